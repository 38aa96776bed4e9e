"""Resources (the guide, one link as JSON), prompts, and argument completion."""

from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)
from pydantic import Field

from clypt_mcp.assets import guide_text
from clypt_mcp.backends.base import BackendProvider
from clypt_mcp.errors import ClyptError, NotFoundError
from clypt_mcp.models import LinkQuery, Scope
from clypt_mcp.tools.wording import TOOL_WORDS

PERIODS = ["24h", "7d", "30d", "90d", "12mo", "all"]
MAX_COMPLETIONS = 20


def register(mcp: MCPServer, backends: BackendProvider, scopes: frozenset[Scope]) -> None:
    """Add the resources and prompts."""

    @mcp.resource(
        "clypt://guide",
        name="guide",
        title="Clypt guide for agents",
        mime_type="text/markdown",
    )
    def guide() -> str:
        """How to use Clypt's tools and REST API (the llms.txt text)."""
        return guide_text()

    @mcp.resource(
        "clypt://usage",
        name="usage",
        title="Workspace limits and use",
        mime_type="application/json",
    )
    async def usage_resource() -> str:
        """The limits the server's operator set for this workspace (links, clicks a month, API
        calls a day; null: none) and what it used of them."""
        return (await backends().usage()).model_dump_json()

    if Scope.LINKS_READ in scopes:

        @mcp.resource(
            "clypt://links/{code}",
            name="link",
            title="A short link",
            mime_type="application/json",
        )
        async def link_resource(code: str) -> str:
            """One short link as JSON, by code."""
            try:
                link = await backends().get_link(code)
            except NotFoundError as exc:
                raise ResourceNotFoundError(exc.worded(TOOL_WORDS)) from None
            return link.model_dump_json()

    @mcp.prompt(title="Set up a campaign")
    def campaign_setup(
        urls: Annotated[
            str,
            Field(description="The URLs to shorten, separated by spaces, commas or new lines."),
        ],
        campaign: Annotated[str, Field(description="Campaign name; also the utm_campaign value.")],
        tag: Annotated[
            str, Field(description="Tag for every link (default: the campaign name).")
        ] = "",
        source: Annotated[
            str, Field(description="utm_source value, e.g. 'newsletter' (default: none).")
        ] = "",
    ) -> str:
        """Shorten a set of URLs for one campaign, with a tag and UTM parameters."""
        tag_name = tag or campaign
        lines = urls.replace(",", " ").split()
        listed = "\n".join(f"- {u}" for u in lines) or "- (ask me for the URLs)"
        src = f"utm_source='{source}', " if source else ""
        return (
            f"Set up the campaign '{campaign}' in Clypt. For each URL below, create a short link "
            f"with tags=['{tag_name}'], {src}utm_campaign='{campaign}' (use bulk_create_links "
            "when there are several, with an idempotency_key so a retry makes no duplicates). "
            "Then list the short URLs in a table with their destinations, and mention any item "
            f"that failed and why.\n\nURLs:\n{listed}"
        )

    @mcp.prompt(title="Performance report")
    def performance_report(
        period: Annotated[
            str, Field(description="24h, 7d (default), 30d, 90d, 12mo or all.")
        ] = "7d",
        tag: Annotated[str, Field(description="Only links with this tag (default: all).")] = "",
        folder: Annotated[
            str, Field(description="Only links in this folder path (default: all).")
        ] = "",
    ) -> str:
        """Summarise how links performed over a period: totals, trend, top links and countries."""
        scope = f" for tag '{tag}'" if tag else (f" for folder '{folder}'" if folder else "")
        return (
            f"Write a short performance report of my Clypt links{scope} over the last {period}. "
            f"Call get_analytics with period='{period}'"
            + (f", tag='{tag}'" if tag else "")
            + (f", folder='{folder}'" if folder else "")
            + ". Give total clicks and unique visitors, say whether the trend rises or falls, "
            "name the three best links, countries and referrers, and end with one suggestion."
        )


def register_completion(
    mcp: MCPServer, backends: BackendProvider, scopes: frozenset[Scope]
) -> None:
    """Complete link codes, tag names, folder paths and periods."""

    @mcp.completion()  # type: ignore[untyped-decorator, no-untyped-call]
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        try:
            values = await _candidates(backends, scopes, argument.name, argument.value)
        except ClyptError:
            values = []
        if values is None:
            return None
        return Completion(
            values=values[:MAX_COMPLETIONS],
            total=len(values),
            has_more=len(values) > MAX_COMPLETIONS,
        )


async def _candidates(
    backends: BackendProvider, scopes: frozenset[Scope], name: str, value: str
) -> list[str] | None:
    prefix = value.lower()
    if name in ("code", "link") and Scope.LINKS_READ in scopes:
        page = await backends().list_links(LinkQuery(query=value or None, limit=100))
        return [ln.code for ln in page.links if ln.code.lower().startswith(prefix)]
    if name == "tag" and Scope.TAGS_READ in scopes:
        tags = await backends().list_tags()
        return [t.name for t in tags.tags if t.name.lower().startswith(prefix)]
    if name in ("folder", "path", "parent") and Scope.FOLDERS_READ in scopes:
        folders = await backends().list_folders()
        return [f.path for f in folders.folders if f.path.lower().startswith(prefix)]
    if name == "period":
        return [p for p in PERIODS if p.startswith(prefix)]
    return None
