"""/analytics: clicks across the workspace, a tag or a folder."""

from __future__ import annotations

from starlette.requests import Request

from clypt_mcp.http.api.endpoint import Endpoint
from clypt_mcp.http.api.params import Params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import Analytics, AnalyticsQuery, Principal, Scope

WORKSPACE_PARAMS = Params(AnalyticsQuery, exclude=frozenset({"link"}))


def endpoints(state: AppState) -> list[Endpoint]:
    service = state.service

    async def get_analytics(request: Request, principal: Principal) -> Analytics:
        return await service.get_analytics(principal, WORKSPACE_PARAMS.parse(request))

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
        )
    ]
