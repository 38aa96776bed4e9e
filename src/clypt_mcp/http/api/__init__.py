"""The Clypt REST API v1, mounted at /api/v1."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from clypt_mcp.http import guest
from clypt_mcp.http.api import (
    analytics,
    apps,
    conversions,
    domains,
    endpoint,
    folders,
    jobs,
    keys,
    links,
    openapi,
    tags,
    usage,
    webhooks,
)
from clypt_mcp.http.api.endpoint import Endpoint
from clypt_mcp.http.auth import PublicHandler
from clypt_mcp.http.state import AppState


def endpoints(state: AppState) -> list[Endpoint]:
    """Every authenticated /api/v1 operation, in routing order."""
    return [
        *links.endpoints(state),
        *analytics.endpoints(state),
        *jobs.endpoints(state),
        *tags.endpoints(state),
        *webhooks.endpoints(state),
        *folders.endpoints(state),
        *domains.endpoints(state),
        *keys.endpoints(state),
        *apps.endpoints(state),
        *usage.endpoints(state),
        *conversions.endpoints(state),
    ]


def routes(state: AppState) -> list[BaseRoute]:
    """Every /api/v1 route: the OpenAPI document, the endpoints, then a JSON 404."""
    operations = endpoints(state)
    document = openapi.document(operations)
    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/openapi.json", _serve(document), methods=endpoint.ANY_METHOD),
        guest.route(state),
        *endpoint.routes(state, operations),
        Route("/{rest:path}", endpoint.not_found, methods=endpoint.ANY_METHOD),
    ]


async def index(request: Request) -> Response:
    """`GET /api/v1` (with or without the slash): where the API is described."""
    return JSONResponse(
        {
            "name": "Clypt REST API",
            "version": "v1",
            "openapi": "/api/v1/openapi.json",
            "guide": "/llms.txt",
            "reference": "/llms-full.txt",
        }
    )


def _serve(document: dict[str, Any]) -> PublicHandler:
    async def openapi_json(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return endpoint.method_not_allowed(request, "/openapi.json", "GET, HEAD")
        return JSONResponse(document)

    return openapi_json
