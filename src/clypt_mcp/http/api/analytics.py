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
            "breakdowns (the rest summed as 'other'). A folder includes its subfolders; bots "
            "are left out unless includeBots=true. For one link use /links/{id}/analytics.",
        )
    ]
