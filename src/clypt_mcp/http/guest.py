"""POST /api/v1/guest-links (#14 item 6): a short link without an API key, when the operator
turns it on (`CLYPT_GUEST_LINKS=on`; off, the path is a 404 like any unknown one).

The link gets a generated code on the default domain, no options, and lives 7 days (its
`expiresAt`), after which the housekeeping deletes it for good. Each client address may make
`CLYPT_GUEST_RATE_LIMIT` (default 10 an hour) in a fixed window counted in the store, so every
process shares it; `CLYPT_GUEST_LINKS_MAX` live guest links at most. Both answer 429 with
`Retry-After`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clypt_mcp.errors import ClyptError
from clypt_mcp.http.api import endpoint
from clypt_mcp.http.api.body import rest_body
from clypt_mcp.http.auth import scope_client
from clypt_mcp.http.error_map import error_response, from_validation, unexpected
from clypt_mcp.http.ratelimit import WINDOWS
from clypt_mcp.http.state import AppState
from clypt_mcp.http.wire import to_rest
from clypt_mcp.models import Url

NOTE = (
    "This is a temporary guest link: it works for 7 days (until expiresAt) and is then deleted "
    "for good. For links that last, ask this server's operator for an API key."
)


class GuestLinkCreate(BaseModel):
    """A guest link is a destination and nothing else."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    url: Url


def route(state: AppState) -> Route:
    settings = state.settings
    count, _, unit = settings.guest_rate_limit.partition("/")
    limit, window = int(count), WINDOWS[unit]

    async def create(request: Request) -> Response:
        if not settings.guest_links:
            return await endpoint.not_found(request)
        if request.method != "POST":
            return endpoint.method_not_allowed(request, "/guest-links", "POST")
        try:
            data = await rest_body(request, GuestLinkCreate)
            link = await state.service.create_guest_link(
                data.url,
                scope_client(request.scope, state) or "unknown",
                settings.guest_links_max,
                (limit, window),
                settings.guest_rate_limit,
            )
            body = to_rest(link)
            body["note"] = NOTE
            return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})
        except ClyptError as exc:
            return error_response(exc)
        except ValidationError as exc:
            return error_response(from_validation(exc))
        except Exception as exc:
            return unexpected(exc)

    return Route("/guest-links", create, methods=endpoint.ANY_METHOD)
