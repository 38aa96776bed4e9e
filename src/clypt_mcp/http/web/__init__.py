"""The faces of Clypt for people (#18): the home page at / and the dashboard under /app."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from clypt_mcp.http.state import AppState


def routes(state: AppState) -> list[BaseRoute]:
    from clypt_mcp.http.web import dashboard, home

    home.executable()

    async def home_page(request: Request) -> Response:
        return await home.home(request, state)

    return [Route("/", home_page, methods=["GET", "HEAD"]), *dashboard.routes(state)]
