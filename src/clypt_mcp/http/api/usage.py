"""/usage: the workspace's limits and what it used of them (any valid key of the workspace)."""

from __future__ import annotations

from starlette.requests import Request

from clypt_mcp.http.api.endpoint import Endpoint
from clypt_mcp.http.api.params import no_params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import Principal, Usage


def endpoints(state: AppState) -> list[Endpoint]:
    service = state.service

    async def usage(request: Request, principal: Principal) -> Usage:
        no_params(request)
        return await service.usage(principal)

    return [
        Endpoint(
            "GET",
            "/usage",
            "The workspace's limits and use",
            usage,
            None,
            Usage,
            description="The limits the server's operator set (links, clicks a month, API "
            "calls a day; null: no limit) and the use: links held, clicks this UTC month "
            "(those beyond the monthly limit still redirect and show in overQuotaClicks), API "
            "calls today. Reading it never counts as a call.",
        ),
    ]
