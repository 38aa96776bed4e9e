"""Bearer API keys to Principals, rate-limit headers, and the REST endpoint wrapper."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from clypt_mcp.core.visitors import client_ip
from clypt_mcp.errors import AuthenticationError, ClyptError, RateLimitedError
from clypt_mcp.http.error_map import error_response, from_validation, unexpected
from clypt_mcp.http.state import AppState
from clypt_mcp.models import Principal

Handler = Callable[[Request, Principal], Awaitable[Response]]
PublicHandler = Callable[[Request], Awaitable[Response]]


# The client address of the MCP request being served (set by `mcp.py` before the key is checked).
current_client: ContextVar[str | None] = ContextVar("clypt_client", default=None)


def scope_client(scope: Scope, state: AppState) -> str | None:
    """The client address of an ASGI request as `serve` sees it: the peer, or behind
    `CLYPT_TRUSTED_PROXIES` the forwarded one (None when it cannot be told)."""
    peer = scope.get("client")
    forwarded = [
        value.decode("latin-1")
        for name, value in scope.get("headers", [])
        if name == b"x-forwarded-for"
    ]
    address = client_ip(peer[0] if peer else None, forwarded, state.settings.trusted_proxies)
    return str(address) if address is not None else None


def bearer(request: Request) -> str:
    """The key in `Authorization: Bearer …`.

    Raises:
        AuthenticationError: when the header is missing or malformed.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            "missing API key — send Authorization: Bearer clypt_… (create one with "
            "`clypt-mcp keys create`)"
        )
    return token.strip()


def protected(state: AppState, handler: Handler) -> PublicHandler:
    """Wrap a REST handler: authenticate, rate-limit, map errors, add X-RateLimit-* headers."""

    async def endpoint(request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            principal = await state.service.authenticate(
                bearer(request), scope_client(request.scope, state)
            )
            verdict = await state.limiter.check(principal.key_id or principal.workspace_id)
            headers = verdict.headers()
            if not verdict.allowed:
                raise RateLimitedError(
                    f"rate limit of {verdict.limit} requests reached — retry after "
                    f"{verdict.retry_after} s",
                    retry_after=verdict.retry_after,
                )
            if request.url.path != "/api/v1/usage":  # reading the use is never a call
                await state.service.spend_api_call(principal)
            response = await handler(request, principal)
        except ClyptError as exc:
            response = error_response(exc, request=request)
            if isinstance(exc, AuthenticationError):
                response.headers["WWW-Authenticate"] = 'Bearer realm="clypt"'
        except ValidationError as exc:
            response = error_response(from_validation(exc), request=request)
        except Exception as exc:
            response = unexpected(exc)
        response.headers.update(headers)
        return response

    return endpoint
