"""Link tools: create, list, get, update, delete, bulk create."""

from datetime import datetime
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from clypt_mcp.backends.base import BackendProvider
from clypt_mcp.errors import ClyptError
from clypt_mcp.models import (
    MAX_BULK,
    BulkResult,
    Deleted,
    Link,
    LinkCreate,
    LinkPage,
    LinkQuery,
    LinkUpdate,
)
from clypt_mcp.tools.common import given, result, tool_errors

LinkRef = Annotated[
    str,
    Field(
        description="The link: its code (e.g. 'spring'), its id (lnk_…) or its full short URL.",
        min_length=1,
        max_length=2200,
    ),
]
Url = Annotated[
    str, Field(description="Destination: an absolute http:// or https:// URL.", max_length=2048)
]
Code = Annotated[
    str | None,
    Field(
        description="Custom code: 3-64 of A-Z a-z 0-9 - _, case-sensitive. Omit to get 7 random "
        "characters.",
        max_length=64,
    ),
]
Title = Annotated[str | None, Field(description="Human title, at most 200 characters.")]
Tags = Annotated[
    list[str] | None,
    Field(description="Up to 10 tag names; unknown tags are created.", max_length=10),
]
FolderArg = Annotated[
    str | None,
    Field(description="Folder path like 'Marketing/2026' (created if missing) or a folder id."),
]
Notes = Annotated[str | None, Field(description="Private notes, at most 500 characters.")]
Utm = Annotated[
    str | None,
    Field(description="UTM value: letters, digits, '-', '_', '.', at most 100 characters."),
]
When = Annotated[datetime | None, Field(description="ISO 8601 time; without an offset, UTC.")]
MaxClicks = Annotated[
    int | None, Field(description="Stop redirecting after this many clicks.", ge=1)
]
Password = Annotated[
    str | None, Field(description="Visitors must enter it (4-200 characters); never shown back.")
]


class VariantArg(BaseModel):
    """One A/B destination; chosen with probability weight / total weight."""

    url: str = Field(description="Absolute http(s) URL.", max_length=2048)
    weight: int = Field(default=1, ge=1, description="Relative weight, at least 1.")
    label: str | None = Field(default=None, max_length=50)


Variants = Annotated[
    list[VariantArg] | None, Field(description="A/B test destinations (1-10).", max_length=10)
]
Geo = Annotated[
    dict[str, str] | None,
    Field(description="Route by visitor country: {'US': url, 'DE': url} (ISO codes)."),
]
Devices = Annotated[
    dict[str, str] | None,
    Field(
        description="Route by device: platform keys 'ios', 'android', 'desktop' and device-type "
        "keys 'mobile', 'tablet'; when both match, the platform key wins."
    ),
]
IdemKey = Annotated[
    str | None,
    Field(
        description="Any unique string; a retry with the same key (within 24 hours) returns the "
        "first result instead of making a duplicate.",
        max_length=200,
    ),
]

_FIELDS = (
    "url",
    "code",
    "title",
    "tags",
    "folder",
    "notes",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "starts_at",
    "expires_at",
    "max_clicks",
    "password",
    "variants",
    "geo",
    "devices",
)


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in _FIELDS:
        value = values.get(name)
        if isinstance(value, list):
            value = [v.model_dump() if isinstance(v, BaseModel) else v for v in value]
        out[name] = value
    return out


def _describe(link: Link) -> str:
    extras = []
    if link.tags:
        extras.append("tags: " + ", ".join(link.tags))
    if link.folder:
        extras.append(f"folder: {link.folder}")
    if link.status != "active":
        extras.append(f"status: {link.status}")
    tail = f" ({'; '.join(extras)})" if extras else ""
    return f"{link.short_url} → {link.url}{tail}"


class ConfirmDelete(BaseModel):
    confirm: bool = Field(description="Delete this link and all its click history for good?")


def register(mcp: MCPServer, backends: BackendProvider) -> None:
    """Add the link tools to `mcp`."""

    @mcp.tool(
        title="Create a short link",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def create_link(
        url: Url,
        code: Code = None,
        title: Title = None,
        tags: Tags = None,
        folder: FolderArg = None,
        notes: Notes = None,
        utm_source: Utm = None,
        utm_medium: Utm = None,
        utm_campaign: Utm = None,
        utm_term: Utm = None,
        utm_content: Utm = None,
        starts_at: When = None,
        expires_at: When = None,
        max_clicks: MaxClicks = None,
        password: Password = None,
        variants: Variants = None,
        geo: Geo = None,
        devices: Devices = None,
        idempotency_key: IdemKey = None,
    ) -> Annotated[CallToolResult, Link]:
        """Shorten a URL. Use this when the user wants a short link, optionally with a custom code,
        tags, a folder, UTM parameters, a schedule, a click limit, a password, A/B variants or
        geo/device routing. Returns the new link; tell the user its short_url.
        Pass idempotency_key when you may retry, so a retry never makes a duplicate."""
        data = LinkCreate.model_validate(
            {k: v for k, v in _fields(locals()).items() if v is not None}
        )
        link = await backends().create_link(data, idempotency_key)
        return result(link, f"Created {_describe(link)}")

    @mcp.tool(
        title="List or search short links",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    @tool_errors
    async def list_links(
        query: Annotated[
            str | None, Field(description="Text to find in code, URL, title or notes.")
        ] = None,
        tag: Annotated[str | None, Field(description="Only links with this tag.")] = None,
        folder: Annotated[
            str | None, Field(description="Only links in this folder (path or id) or below.")
        ] = None,
        status: Annotated[
            Literal["active", "scheduled", "expired", "disabled", "deleted", "all"] | None,
            Field(description="Default: every status except deleted."),
        ] = None,
        sort: Annotated[
            Literal["-created_at", "created_at", "-clicks", "clicks", "code", "-code"],
            Field(description="'-clicks' puts the most clicked first."),
        ] = "-created_at",
        limit: Annotated[int, Field(ge=1, le=100, description="Page size, 1-100.")] = 20,
        cursor: Annotated[
            str | None, Field(description="next_cursor from the previous page.")
        ] = None,
    ) -> Annotated[CallToolResult, LinkPage]:
        """Find links: search text, filter by tag, folder or status, sort by date, clicks or code.
        Pages hold up to `limit` links; when next_cursor is set, call again with it for more.
        `total` counts every match."""
        page = await backends().list_links(
            LinkQuery(
                query=query,
                tag=tag,
                folder=folder,
                status=status,
                sort=sort,
                limit=limit,
                cursor=cursor,
            )
        )
        more = " — more: call again with cursor=next_cursor" if page.next_cursor else ""
        lines = [f"{len(page.links)} of {page.total} links{more}"]
        lines += [f"- {_describe(link)} [{link.clicks} clicks]" for link in page.links]
        return result(page, "\n".join(lines))

    @mcp.tool(
        title="Get one short link",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    @tool_errors
    async def get_link(link: LinkRef) -> Annotated[CallToolResult, Link]:
        """Look up one link by code, id or short URL: destination, settings, status, clicks."""
        found = await backends().get_link(link)
        return result(found, f"{_describe(found)} [{found.clicks} clicks]")

    @mcp.tool(
        title="Change a short link",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def update_link(
        link: LinkRef,
        url: Annotated[str | None, Field(description="New destination.", max_length=2048)] = None,
        code: Code = None,
        title: Title = None,
        tags: Annotated[
            list[str] | None,
            Field(
                description="Replaces all tags (up to 10); [] or null removes them.", max_length=10
            ),
        ] = None,
        folder: FolderArg = None,
        notes: Notes = None,
        utm_source: Utm = None,
        utm_medium: Utm = None,
        utm_campaign: Utm = None,
        utm_term: Utm = None,
        utm_content: Utm = None,
        starts_at: When = None,
        expires_at: When = None,
        max_clicks: MaxClicks = None,
        password: Password = None,
        variants: Variants = None,
        geo: Geo = None,
        devices: Devices = None,
        disabled: Annotated[
            bool | None, Field(description="true pauses redirects (410); false resumes.")
        ] = None,
        deleted: Annotated[
            bool | None, Field(description="false restores a soft-deleted link.")
        ] = None,
    ) -> Annotated[CallToolResult, Link]:
        """Change a link. Send only what should change: a field you leave out stays as it is,
        a field sent as null is cleared. Use disabled to pause, deleted=false to restore."""
        values = _fields(locals()) | {"disabled": disabled, "deleted": deleted}
        changes = given(*_FIELDS, "disabled", "deleted", values=values)
        data = LinkUpdate.model_validate(changes)
        updated = await backends().update_link(link, data)
        return result(updated, f"Updated {_describe(updated)}")

    async def _confirm_permanent(
        link: str, permanent: bool, confirm: bool, ctx: Context
    ) -> Elicit[ConfirmDelete] | bool:
        if not permanent or confirm:
            return True
        try:
            found = await backends().get_link(link)
        except ClyptError:
            return True  # the tool itself reports the error
        if found.clicks == 0:
            return True
        caps = ctx.client_capabilities
        if caps is None or caps.elicitation is None:
            return False
        return Elicit(
            f"Permanently delete {found.short_url} and its {found.clicks} recorded clicks? "
            "This cannot be undone.",
            ConfirmDelete,
        )

    @mcp.tool(
        title="Delete a short link",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    @tool_errors
    async def delete_link(
        link: LinkRef,
        answer: Annotated[ElicitationResult[ConfirmDelete], Resolve(_confirm_permanent)],
        permanent: Annotated[
            bool,
            Field(
                description="false (default): soft delete, restorable with update_link "
                "deleted=false. true: remove the link and its clicks for good."
            ),
        ] = False,
        confirm: Annotated[
            bool,
            Field(
                description="Set true only after the user agreed to a permanent delete of a "
                "link that has clicks (needed when the client cannot ask the user)."
            ),
        ] = False,
    ) -> Annotated[CallToolResult, Deleted]:
        """Delete a link. By default a soft delete: the short URL answers 410 Gone and the link
        can be restored. permanent=true erases it and its analytics; for a link with clicks the
        user is asked to confirm (or pass confirm=true after asking them yourself)."""
        if not isinstance(answer, AcceptedElicitation):
            raise ToolError(f"kept {link}: the user did not confirm the permanent delete")
        approved = answer.data if isinstance(answer.data, bool) else answer.data.confirm
        if not approved:
            raise ToolError(
                f"{link} has clicks: a permanent delete erases them — ask the user, then call "
                "again with confirm=true (or use permanent=false for a restorable delete)"
            )
        done = await backends().delete_link(link, permanent)
        kind = "permanently deleted" if permanent else "deleted (restorable; redirects answer 410)"
        return result(done, f"{link} {kind}")

    @mcp.tool(
        title="Create many short links",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def bulk_create_links(
        links: Annotated[
            list[dict[str, Any]],
            Field(
                description=f"1-{MAX_BULK} objects with create_link's fields (url required).",
                min_length=1,
                max_length=MAX_BULK,
            ),
        ],
        ctx: Context,
        idempotency_key: IdemKey = None,
    ) -> Annotated[CallToolResult, BulkResult]:
        """Create up to 100 links in one call, e.g. for a campaign. Each item takes the same
        fields as create_link. A bad item is reported in errors (by index) and never stops the
        others. Sends progress notifications."""

        async def progress(done: int, total: int) -> None:
            await ctx.report_progress(done, total, f"created {done}/{total}")

        out = await backends().bulk_create_links(links, idempotency_key, progress)
        summary = f"Created {len(out.created)} of {len(links)} links"
        if out.errors:
            summary += f"; {len(out.errors)} failed: " + "; ".join(
                f"#{e.index}: {e.error}" for e in out.errors[:5]
            )
        return result(out, summary)
