"""`GET /internal/tls-allowed?domain=…`: Caddy's on-demand TLS `ask` endpoint.

A TLS proxy in front of Clypt asks, before it gets a certificate for a name, whether Clypt
serves it: 200 for CLYPT_BASE_URL's host and every verified domain, 404 for anything else, so
no certificate is ever requested for a name someone merely pointed at the server. Only the
proxy may ask: loopback or CLYPT_TRUSTED_PROXIES (anyone else gets 403), since the answer
would tell a stranger which domains the server has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from clypt_mcp.http.redirect import trusted_peer
from clypt_mcp.http.state import AppState

_LOOPBACK = ("127.", "::1", "::ffff:127.")


def endpoint(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    async def tls_allowed(request: Request) -> Response:
        peer = request.client.host if request.client else None
        local = peer is not None and (peer.startswith(_LOOPBACK) or peer == "localhost")
        if not local and not trusted_peer(peer, state.settings.trusted_proxies):
            return PlainTextResponse("only the TLS proxy may ask\n", status_code=403)
        names = request.query_params.getlist("domain")
        if len(names) != 1 or not names[0].strip() or len(names[0]) > 253:
            return PlainTextResponse("give one domain: ?domain=go.example.com\n", status_code=400)
        if await state.service.tls_allowed(names[0]):
            return PlainTextResponse("ok\n")
        return PlainTextResponse("not a domain served here\n", status_code=404)

    return tls_allowed
