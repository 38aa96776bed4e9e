"""The Clypt REST API v1, mounted at /api/v1."""

from __future__ import annotations

from starlette.routing import BaseRoute

from clypt_mcp.http.state import AppState


def routes(state: AppState) -> list[BaseRoute]:
    """Every /api/v1 route."""
    return []
