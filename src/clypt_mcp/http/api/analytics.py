"""/analytics: clicks across the workspace, a tag or a folder."""

from __future__ import annotations

from starlette.requests import Request

from clypt_mcp.http.api.endpoint import Endpoint
from clypt_mcp.http.api.params import Params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import Analytics, AnalyticsQuery, ClickLog, ClickQuery, Principal, Scope

WORKSPACE_PARAMS = Params(AnalyticsQuery, exclude=frozenset({"link"}))
CLICK_PARAMS = Params(ClickQuery)


def endpoints(state: AppState) -> list[Endpoint]:
    service = state.service

    async def get_analytics(request: Request, principal: Principal) -> Analytics:
        return await service.get_analytics(principal, WORKSPACE_PARAMS.parse(request))

    async def list_clicks(request: Request, principal: Principal) -> ClickLog:
        return await service.list_clicks(principal, CLICK_PARAMS.parse(request))

    return [
        Endpoint(
            "GET",
            "/analytics",
            "Analytics of the workspace, a tag or a folder",
            get_analytics,
            Scope.ANALYTICS_READ,
            Analytics,
            params=WORKSPACE_PARAMS,
            errors=(422,),
            description="totalClicks, clicksInPeriod, uniqueVisitors, a time series and top-N "
            "breakdowns (the rest summed as 'other'): countries, devices (device type: desktop, "
            "mobile, tablet, other), browsers, os, referrers, cities, links, and traffic (every "
            "class's visits: human, qr, preview, ai_agent, crawler, suspect). uniqueVisitors is "
            "the number of distinct visitors of the selected links on each UTC day, summed over "
            "the days of the period. A folder includes its subfolders; only human and qr visits "
            "are clicks unless includeBots=true. For one link (with its A/B `variants` results) "
            "use /links/{id}/analytics.",
        ),
        Endpoint(
            "GET",
            "/clicks",
            "The click log: raw clicks, newest first",
            list_clicks,
            Scope.ANALYTICS_READ,
            ClickLog,
            params=CLICK_PARAMS,
            errors=(404, 422),
            description="One page of clicks of a link, a tag, a folder (with its subfolders) or "
            "the whole workspace, newest first; filter by start/end (ISO 8601, start included, "
            "end excluded), country (ISO code), device (desktop, mobile, tablet, other), traffic "
            "(human, qr, preview, ai_agent, crawler, suspect) and variant (label or #n). Each "
            "click has id, time, code, variant, country, city, device, browser, os, referrer "
            "(the referring host) and traffic; never an address or a visitor hash. Pass "
            "nextCursor back as cursor for the next page; null on the last. Every traffic class "
            "is listed unless traffic is given. Export a large selection instead of paging it.",
        ),
    ]
