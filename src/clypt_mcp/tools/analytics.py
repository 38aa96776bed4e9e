"""The analytics tool."""

from datetime import datetime
from typing import Annotated, Literal

from mcp.server import MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from clypt_mcp.backends.base import BackendProvider
from clypt_mcp.models import Analytics, AnalyticsQuery, Count
from clypt_mcp.tools.common import result, tool_errors


def _top(counts: list[Count], n: int = 3) -> str:
    return ", ".join(f"{c.key} {c.clicks}" for c in counts[:n]) or "none"


def summarize(a: Analytics) -> str:
    q = a.query
    return (
        f"{a.clicks_in_period} clicks ({a.unique_visitors} unique) from {q.start:%Y-%m-%d %H:%M} "
        f"to {q.end:%Y-%m-%d %H:%M} {q.timezone}, {a.total_clicks} all time. "
        f"Top countries: {_top(a.countries)}. Top links: {_top(a.links)}."
    )


def register(mcp: MCPServer, backends: BackendProvider) -> None:
    """Add get_analytics to `mcp`."""

    @mcp.tool(
        title="Click analytics",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    @tool_errors
    async def get_analytics(
        link: Annotated[
            str | None, Field(description="One link (code, id or short URL); omit for all.")
        ] = None,
        tag: Annotated[str | None, Field(description="Only links with this tag.")] = None,
        folder: Annotated[
            str | None, Field(description="Only links in this folder and its subfolders.")
        ] = None,
        period: Annotated[
            Literal["24h", "7d", "30d", "90d", "12mo", "all"],
            Field(description="How far back from now (or from end)."),
        ] = "7d",
        start: Annotated[
            datetime | None, Field(description="Explicit start (ISO 8601); overrides period.")
        ] = None,
        end: Annotated[datetime | None, Field(description="Explicit end; default now.")] = None,
        interval: Annotated[
            Literal["hour", "day", "week", "month"] | None,
            Field(description="Time-series bucket; chosen from the span when omitted."),
        ] = None,
        top: Annotated[int, Field(ge=1, le=50, description="Breakdown size, 1-50.")] = 10,
        timezone: Annotated[
            str, Field(description="IANA zone for day boundaries, e.g. 'Europe/Paris'.")
        ] = "UTC",
    ) -> Annotated[CallToolResult, Analytics]:
        """Report clicks: totals, unique visitors, a time series and the top countries, devices,
        browsers, operating systems, referrers and links (the rest summed as 'other'). Use it for
        questions like "which links did best last week, by country?". Bots are left out."""
        query = AnalyticsQuery(
            link=link,
            tag=tag,
            folder=folder,
            period=period,
            start=start,
            end=end,
            interval=interval,
            top=top,
            timezone=timezone,
        )
        report = await backends().get_analytics(query)
        return result(report, summarize(report))
