"""GET|HEAD /{code}: redirects that record clicks, the password form, 404 and 410 pages."""

from __future__ import annotations

from starlette.routing import BaseRoute

from clypt_mcp.http.state import AppState


def routes(state: AppState) -> list[BaseRoute]:
    """The catch-all short-link routes; mounted last."""
    return []
