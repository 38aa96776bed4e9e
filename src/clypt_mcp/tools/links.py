"""Link tools: create, list, get, update, delete, bulk create."""

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_type_hints

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

from clypt_mcp import models
from clypt_mcp.backends.base import BackendProvider
from clypt_mcp.errors import ClyptError
from clypt_mcp.models import (
    LINK_INPUTS,
    MAX_BULK,
    BulkAnswer,
    BulkError,
    Deleted,
    Link,
    LinkCreate,
    LinkQuery,
    LinkUpdate,
)
from clypt_mcp.tools.common import given, link_result, result, tool_errors
from clypt_mcp.tools.shaping import (
    CEILING,
    FIELDS_DOC,
    FORMAT_DOC,
    TEXT_CUT,
    Format,
    bounded,
    cut,
    drop_empty,
    fit_count,
    list_result,
    partial,
    select,
    shape_items,
)

LinkRef = Annotated[
    models.LinkRef,
    Field(description="The link: its code (e.g. 'spring'), its id (lnk_…) or its full short URL."),
]
IdemKey = Annotated[
    models.IdempotencyKey | None,
    Field(
        description="Any unique string; a retry with the same key (within 24 hours) returns the "
        "first result instead of making a duplicate."
    ),
]

# The fields a link result may hold (Link's, in its order), for list_links' `fields`.
LINK_FIELDS: tuple[str, ...] = tuple(n for n in Link.model_fields if n != "imported_clicks")
if TYPE_CHECKING:
    LinkField = str
else:
    LinkField = Literal[LINK_FIELDS]
# What each link shows in the text of a list, unless `fields` says otherwise.
SUMMARY_FIELDS = ("code", "short_url", "url", "title", "tags", "folder", "status", "clicks")
LinkView = partial(Link)


class LinkPageView(BaseModel):
    """One page of links (each without its empty fields, or with only the fields asked for);
    pass `next_cursor` back as `cursor` for the next page."""

    links: list[LinkView]  # type: ignore[valid-type]
    next_cursor: str | None
    total: int


class BulkResultView(BaseModel):
    """Links made by a bulk call, and one error per rejected item (by its index)."""

    created: list[LinkView]  # type: ignore[valid-type]
    errors: list[BulkError]


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in LINK_INPUTS:
        value = values.get(name)
        if isinstance(value, list):
            value = [v.model_dump() if isinstance(v, BaseModel) else v for v in value]
        out[name] = value
    return out


def link_arguments(model: type[LinkCreate | LinkUpdate]) -> list[inspect.Parameter]:
    """A tool argument per field of LINK_INPUTS, in its order: the model's own type (limits
    included), described by the table (update_link's own words where it has them)."""
    hints = get_type_hints(model, include_extras=True)
    update = model is not LinkCreate
    out = []
    for name, spec in LINK_INPUTS.items():
        doc = (spec.update_doc or spec.doc) if update else spec.doc
        required = not update and name == "url"
        out.append(
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=inspect.Parameter.empty if required else None,
                annotation=Annotated[hints[name], Field(description=doc)],
            )
        )
    return out


Tool = Callable[..., Awaitable[CallToolResult]]


def arguments(*groups: list[inspect.Parameter]) -> Callable[[Tool], Tool]:
    """Give a tool that takes `**values` the signature the SDK builds its input schema from
    (and checks the arguments against): `groups`' parameters, in order."""

    def give(fn: Tool) -> Tool:
        params = [p for group in groups for p in group]
        fn.__signature__ = inspect.signature(fn).replace(  # type: ignore[attr-defined]
            parameters=params
        )
        return fn

    return give


def _param(name: str, annotation: Any, default: Any = None) -> list[inspect.Parameter]:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return [inspect.Parameter(name, kind, default=default, annotation=annotation)]


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
    @arguments(link_arguments(LinkCreate), _param("idempotency_key", IdemKey))
    async def create_link(**values: Any) -> Annotated[CallToolResult, LinkView]:
        """Shorten a URL. Use this when the user wants a short link, optionally with a custom code,
        tags, a folder, UTM parameters, a schedule, a click limit, a password, A/B variants or
        geo/device routing. Returns the new link (empty fields left out); tell the user its
        short_url.
        Pass idempotency_key when you may retry, so a retry never makes a duplicate."""
        data = LinkCreate.model_validate(
            {k: v for k, v in _fields(values).items() if v is not None}
        )
        link = await backends().create_link(data, values.get("idempotency_key"))
        return link_result(link, f"Created {_describe(link)}")

    @mcp.tool(
        title="List or search short links",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    @tool_errors
    async def list_links(
        query: Annotated[
            models.SearchText | None,
            Field(description="Text to find in code, URL, title or notes."),
        ] = None,
        tag: Annotated[
            models.TagFilter | None, Field(description="Only links with this tag.")
        ] = None,
        folder: Annotated[
            models.FolderRef | None,
            Field(description="Only links in this folder (path or id) or below."),
        ] = None,
        status: Annotated[
            models.StatusFilter | None,
            Field(description="Default: every status except deleted."),
        ] = None,
        domain: Annotated[
            models.DomainName | None, Field(description="Only links served on this domain.")
        ] = None,
        sort: Annotated[
            models.LinkSort, Field(description="'-clicks' puts the most clicked first.")
        ] = "-created_at",
        limit: Annotated[models.PageSize, Field(description="Page size, 1-100.")] = 20,
        cursor: Annotated[
            models.Cursor | None, Field(description="next_cursor from the previous page.")
        ] = None,
        fields: Annotated[
            list[LinkField] | None,
            Field(description=FIELDS_DOC.format(item="link"), min_length=1, max_length=31),
        ] = None,
        format: Annotated[Format, Field(description=FORMAT_DOC)] = "json",
    ) -> Annotated[CallToolResult, LinkPageView]:
        """Find links: search text, filter by tag, folder or status, sort by date, clicks or code.
        Pages hold up to `limit` links; when next_cursor is set, call again with it for more.
        `total` counts every match. Each link leaves out its empty fields; `fields` keeps only
        the ones named (e.g. ["code", "url", "clicks"]). The text lists code, short URL,
        destination, title, tags, folder, status and clicks per link (or the `fields`);
        format='markdown' or 'csv' gives them as one table. A result stays under 100 KB: long
        values are cut with '…[cut]' (get_link shows a whole link) and a page may hold fewer
        than `limit` links (page on with next_cursor)."""
        ask = LinkQuery(
            query=query,
            tag=tag,
            folder=folder,
            status=status,
            domain=domain,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        chosen: list[str] | None = list(fields) if fields else None
        text_fields = chosen or list(SUMMARY_FIELDS)
        for _ in range(3):
            page = await backends().list_links(ask)
            raw = [link.model_dump(mode="json") for link in page.links]
            items = shape_items(raw, chosen)
            lines = [cut(select(drop_empty(r), text_fields), TEXT_CUT) for r in raw]
            fit = min(fit_count(items), fit_count(lines))
            if fit >= len(items) or ask.limit <= 1:
                break
            ask = ask.model_copy(update={"limit": fit})  # fewer links, with a cursor that fits
        structured = {"links": items, "next_cursor": page.next_cursor, "total": page.total}
        header = f"{len(items)} of {page.total} links"
        if len(items) < limit and page.next_cursor:
            header += f" (fewer than {limit} to stay under {CEILING // 1000} KB)"
        if page.next_cursor:
            header += f'; for more call again with cursor="{page.next_cursor}"'
        return list_result(bounded(structured), bounded(lines), text_fields, header, format)

    @mcp.tool(
        title="Get one short link",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    @tool_errors
    async def get_link(link: LinkRef) -> Annotated[CallToolResult, LinkView]:
        """Look up one link by code, id or short URL: destination, settings, status, clicks.
        Gives the whole link: every value uncut, empty fields left out (a link over 100 KB,
        which only huge geo maps reach, is cut; the resource clypt://links/{code} has it all)."""
        found = await backends().get_link(link)
        return link_result(found, f"{_describe(found)} [{found.clicks} clicks]")

    @mcp.tool(
        title="Change a short link",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,  # it replaces values (a destination, tags) and can clear them
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    @tool_errors
    @arguments(
        _param("link", LinkRef, inspect.Parameter.empty),
        link_arguments(LinkUpdate),
        _param(
            "disabled",
            Annotated[
                bool | None, Field(description="true pauses redirects (410); false resumes.")
            ],
        ),
        _param(
            "deleted",
            Annotated[bool | None, Field(description="false restores a soft-deleted link.")],
        ),
    )
    async def update_link(**values: Any) -> Annotated[CallToolResult, LinkView]:
        """Change a link. Send only what should change: a field you leave out stays as it is,
        a field sent as null is cleared. Use disabled to pause, deleted=false to restore.
        Returns the whole link, empty fields left out."""
        fields = _fields(values) | {"disabled": values.get("disabled"),
                                    "deleted": values.get("deleted")}  # fmt: skip
        changes = given(*LINK_INPUTS, "disabled", "deleted", values=fields)
        data = LinkUpdate.model_validate(changes)
        updated = await backends().update_link(values["link"], data)
        return link_result(updated, f"Updated {_describe(updated)}")

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
        domain: Annotated[
            models.DomainName | None,
            Field(description="Domain for every item that names none (default: the workspace's)."),
        ] = None,
        fields: Annotated[
            list[LinkField] | None,
            Field(description=FIELDS_DOC.format(item="created link"), min_length=1, max_length=31),
        ] = None,
        format: Annotated[Format, Field(description=FORMAT_DOC)] = "json",
    ) -> Annotated[CallToolResult, BulkResultView]:
        """Create up to 100 links in one call, e.g. for a campaign. Each item takes the same
        fields as create_link. A bad item is reported in errors (by index) and never stops the
        others. Sends progress notifications. The text lists each new link's code, short URL,
        destination, title, tags, folder, status and clicks (or the `fields`; format='markdown'
        or 'csv' gives a table), then every error. The result stays under 100 KB: each link
        leaves out its empty fields and long values are cut with '…[cut]' (get_link shows
        all); if the links are still too big, each keeps only its essentials."""

        async def progress(done: int, total: int) -> None:
            await ctx.report_progress(done, total, f"created {done}/{total}")

        if domain is not None:
            links = [item if "domain" in item else {**item, "domain": domain} for item in links]
        out = await backends().bulk_create_links(links, idempotency_key, progress)
        chosen: list[str] | None = list(fields) if fields else None
        summary = f"Created {len(out.created)} of {len(links)} links"
        if out.errors:
            summary += f"; {len(out.errors)} failed:\n" + "\n".join(
                f"#{e.index}: {e.error}" for e in out.errors
            )
        raw = [link.model_dump(mode="json") for link in out.created]
        created = shape_items(raw, chosen)
        if fit_count(created) < len(created):  # too big whole: the essentials of each link
            essentials = chosen or ["id", "code", "short_url", "url", "status"]
            created = shape_items(created, essentials, limit=TEXT_CUT)
            summary += " (each link cut to its essentials to stay under 100 KB; get_link shows all)"
        text_fields = chosen or list(SUMMARY_FIELDS)
        lines = [cut(select(drop_empty(r), text_fields), TEXT_CUT) for r in raw]
        errors = [e.model_dump(mode="json") for e in out.errors]
        data = bounded({"created": created, "errors": errors})
        return list_result(data, bounded(lines), text_fields, bounded(summary), format)

    def _bulk_summary(out: BulkAnswer, verb: str) -> str:
        if out.dry_run:
            shown = ", ".join(out.links) or "none"
            more = f" (first {len(out.links)} shown)" if out.count > len(out.links) else ""
            return (
                f"Dry run: {out.count} links would be {verb}: {shown}{more}. Show the user, then "
                "call again with dry_run=false and this token to change exactly these links."
            )
        errors = [r for r in out.results if r.status == "error"]
        text = f"{out.changed} links {verb}"
        if out.no_longer_matching:
            text += (
                f"; {len(out.no_longer_matching)} no longer matched and were left alone: "
                + ", ".join(out.no_longer_matching)
            )
        if errors:
            text += f"; {len(errors)} failed:\n" + "\n".join(
                f"#{r.index} {r.link}: {r.error}" for r in errors
            )
        return text

    @mcp.tool(
        title="Change many short links",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    @tool_errors
    async def bulk_update_links(
        changes: Annotated[
            models.BulkChanges,
            Field(
                description="What to change: any update_link field but code (absent: unchanged; "
                "null: cleared), plus add_tags and remove_tags."
            ),
        ],
        ctx: Context,
        links: Annotated[
            list[LinkRef] | None,
            Field(
                description=f"1-{models.MAX_BULK_CHANGE} links by id, code or short URL; or use "
                "filter.",
                min_length=1,
                max_length=models.MAX_BULK_CHANGE,
            ),
        ] = None,
        filter: Annotated[
            models.BulkFilter | None,
            Field(description="The list_links filters (query, tag, folder, status)."),
        ] = None,
        dry_run: Annotated[
            bool | None,
            Field(description="true: only show what would change. Default: true with a filter."),
        ] = None,
        token: Annotated[
            str | None,
            Field(description="The token of the dry run, for the real run.", max_length=200_000),
        ] = None,
    ) -> Annotated[CallToolResult, BulkAnswer]:
        """Change many links at once, e.g. "disable every spring-sale link and move them to
        Archive". With a filter, first call gives a dry run (count, the first 20 codes, a
        token); show the user, then call again with dry_run=false and the token: exactly the
        links shown change, and any that no longer match are reported and left alone. With
        links and dry_run=false the named links change at once. Each link's result has its
        index (from 0); a bad item never stops the others. Sends progress notifications."""

        async def progress(done: int, total: int) -> None:
            await ctx.report_progress(done, total, f"changed {done}/{total}")

        req = models.BulkUpdate(links=links, filter=filter, changes=changes, dry_run=dry_run,
                                token=token)  # fmt: skip
        out = await backends().bulk_update_links(req, progress)
        return result(out, _bulk_summary(out, "changed"))

    @mcp.tool(
        title="Delete many short links",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    @tool_errors
    async def bulk_delete_links(
        ctx: Context,
        links: Annotated[
            list[LinkRef] | None,
            Field(
                description=f"1-{models.MAX_BULK_CHANGE} links by id, code or short URL; or use "
                "filter.",
                min_length=1,
                max_length=models.MAX_BULK_CHANGE,
            ),
        ] = None,
        filter: Annotated[
            models.BulkFilter | None,
            Field(description="The list_links filters (query, tag, folder, status)."),
        ] = None,
        dry_run: Annotated[
            bool | None,
            Field(description="true: only show what would go. Default: true with a filter."),
        ] = None,
        token: Annotated[
            str | None,
            Field(description="The token of the dry run, for the real run.", max_length=200_000),
        ] = None,
        permanent: Annotated[
            bool,
            Field(
                description="false (default): soft delete, restorable with bulk_update_links "
                "changes.deleted=false. true: remove the links and their clicks for good."
            ),
        ] = False,
        confirm: Annotated[
            bool,
            Field(description="Set true only after the user agreed to a permanent delete."),
        ] = False,
    ) -> Annotated[CallToolResult, BulkAnswer]:
        """Delete many links at once: the selection, dry run and token work as in
        bulk_update_links. By default a soft delete (short URLs answer 410; restorable).
        permanent=true erases the links and their analytics: it needs the links:delete scope
        and confirm=true after the user agreed. Sends progress notifications."""

        async def progress(done: int, total: int) -> None:
            await ctx.report_progress(done, total, f"deleted {done}/{total}")

        req = models.BulkDelete(links=links, filter=filter, dry_run=dry_run, token=token,
                                permanent=permanent, confirm=confirm)  # fmt: skip
        out = await backends().bulk_delete_links(req, progress)
        verb = "deleted for good" if permanent else "deleted (restorable)"
        return result(out, _bulk_summary(out, verb))
