"""create_app: one ASGI app for redirects, REST API v1, /llms.txt, /healthz and MCP over HTTP."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clypt_mcp.assets import full_guide_text, guide_text
from clypt_mcp.config import Settings
from clypt_mcp.core.abtests import AbTestWatcher
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.housekeeping import Housekeeping
from clypt_mcp.core.idempotency import Idempotency
from clypt_mcp.core.outage import StoreHealth
from clypt_mcp.core.service import ClyptService
from clypt_mcp.core.spool import ClickSpool
from clypt_mcp.http import api, docs, redirect, tls, web
from clypt_mcp.http.deferred import DeferredSurface, OAuthHousekeeping
from clypt_mcp.http.ratelimit import Limiter, RateLimiter, StoreRateLimiter
from clypt_mcp.http.state import AppState
from clypt_mcp.store import is_postgres_url
from clypt_mcp.store.base import Store

log = logging.getLogger(__name__)


class ClyptApp:
    """Routes MCP paths to the MCP transports, single-segment GET/HEAD paths straight to the
    redirect endpoint, and everything else to the Starlette app.

    The redirect shortcut skips Starlette's middleware and its walk over every route (a
    regular-expression match per route, the first three of which can never take `/{code}`):
    redirects are most of a shortener's traffic and the endpoint catches its own errors. It
    takes the paths Starlette would route to `/{code}` anyway: one segment, not a fixed route.
    """

    def __init__(
        self,
        main: Starlette,
        mcp_apps: list[tuple[tuple[str, ...], ASGIApp]],
        redirect_app: ASGIApp | None = None,
    ) -> None:
        self.main = main
        self.mcp_apps = mcp_apps
        self.state: AppState = main.state.clypt
        self._mcp_prefixes = tuple(p for prefixes, _ in mcp_apps for p in prefixes)
        self._redirect = redirect_app
        self._fixed = frozenset(
            route.path[1:]
            for route in main.routes
            if isinstance(route, Route) and "{" not in route.path and "GET" in (route.methods or ())
        )  # a fixed path that takes no GET (/token, /register) still redirects an old link

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            path: str = scope["path"]
            if path.startswith(self._mcp_prefixes):
                if kind == "http" and path in _SLASH_FIXES:
                    # the SDK's own redirect would name the request's Host: a relative one
                    await _relative_redirect(scope, send, _SLASH_FIXES[path])
                    return
                for prefixes, app in self.mcp_apps:
                    if any(path == p or path.startswith(p + "/") for p in prefixes):
                        await app(scope, receive, _nosniff(send) if kind == "http" else send)
                        return
            elif (
                kind == "http"
                and self._redirect is not None
                and scope["method"] in _REDIRECT_METHODS
                and not scope.get("root_path")
            ):
                code = path[1:]
                if code and "/" not in code and code not in self._fixed:
                    scope["path_params"] = {"code": code}
                    await self._redirect(scope, receive, send)
                    return
        # the redirect endpoint above sets nosniff on its own answers; everything else here
        await self.main(scope, receive, _nosniff(send) if kind == "http" else send)


_REDIRECT_METHODS = frozenset({"GET", "HEAD"})
_NOSNIFF = (b"x-content-type-options", b"nosniff")


def _nosniff(send: Send) -> Send:
    """`send` that adds `X-Content-Type-Options: nosniff` to an answer without it."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == _NOSNIFF[0] for name, _ in headers):
                message = {**message, "headers": [*headers, _NOSNIFF]}
        await send(message)

    return sending


_SLASH_FIXES = {"/mcp/": "/mcp", "/messages": "/messages/"}


async def _relative_redirect(scope: Scope, send: Send, path: str) -> None:
    query = scope.get("query_string", b"")
    location = path.encode() + (b"?" + query if query else b"")
    await send(
        {
            "type": "http.response.start",
            "status": 307,
            "headers": [
                (b"location", location),
                (b"content-length", b"0"),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def create_app(
    service: ClyptService,
    settings: Settings,
    recorder: ClickRecorder | None = None,
    *,
    store: Store,
    clock: Callable[[], datetime] | None = None,
    with_mcp: bool = True,
    shared_limits: bool | None = None,
    health: StoreHealth | None = None,
    spool: ClickSpool | None = None,
) -> ClyptApp:
    """The whole HTTP surface over `service`, which was built on `store` and `clock`.

    Without a `recorder`, the app makes one and runs it in its lifespan (as `serve` does),
    beside `Housekeeping` (raw-click retention, old idempotency keys and counters); a caller
    that passes one runs it itself (tests over ASGITransport, which has no lifespan).
    `shared_limits` counts rate limits in the store, for every process on it to share; by
    default when the store is shared (PostgreSQL) (`serve --workers N` asks for it on SQLite too).
    `health` (probed in the lifespan) and `spool` are how `serve` outlives its database
    (`clypt_mcp.core.outage`): /healthz reports the store's state, and the recorder spools
    clicks while it is away.
    """
    own_recorder = recorder is None
    clock = clock or service.clock
    service.webhooks.allow_loopback = settings.dev_allow_loopback
    state = AppState(
        service=service,
        store=store,
        clock=clock,
        settings=settings,
        recorder=recorder or ClickRecorder(store, spool=spool, health=health),
        idempotency=Idempotency(store, clock),
        limiter=_limiter(store, settings, shared_limits, clock),
    )
    # MCP and OAuth are built by the first request that needs them (`deferred`): a process
    # that serves only redirects never loads the MCP SDK
    surface = DeferredSurface(state) if with_mcp else None
    mcp_apps: list[tuple[tuple[str, ...], ASGIApp]] = []
    oauth_routes: list[BaseRoute] = []
    if surface is not None:
        state.oauth_factory = surface.provider
        oauth_routes = surface.routes()
        mcp_apps = surface.transports()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if surface is not None:
                await stack.enter_async_context(surface.serving())
            if not own_recorder:
                yield
                return
            housekeeping = Housekeeping(store, settings.click_retention_days)
            from clypt_mcp.http.webhooks import DeliveryWorker

            deliveries = DeliveryWorker(service, settings.dev_allow_loopback)
            ab_tests = AbTestWatcher(service.check_ab_tests)  # #15: tests end without reads
            oauth_housekeeping = OAuthHousekeeping(store.oauth) if surface is not None else None
            async with anyio.create_task_group() as tg:
                tg.start_soon(state.recorder.run)
                tg.start_soon(housekeeping.run)
                tg.start_soon(deliveries.run)
                if health is not None:
                    tg.start_soon(health.run)
                tg.start_soon(ab_tests.run)
                if oauth_housekeeping is not None:
                    tg.start_soon(oauth_housekeeping.run)
                try:
                    yield
                finally:
                    state.recorder.close()  # run() drains the queue, then the group exits
                    housekeeping.close()
                    deliveries.close()
                    if health is not None:
                        health.close()
                    ab_tests.close()
                    if oauth_housekeeping is not None:
                        oauth_housekeeping.close()

    async def healthz(request: Request) -> Response:
        # 200 either way: a load balancer must keep sending redirects while the database is away
        return JSONResponse(health.describe() if health is not None else {"ok": True})

    redirect_routes = redirect.routes(state)
    main = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/internal/tls-allowed", tls.endpoint(state), methods=["GET", "HEAD"]),
            Route("/llms.txt", docs.markdown(guide_text), methods=["GET", "HEAD"]),
            Route("/llms-full.txt", docs.markdown(full_guide_text), methods=["GET", "HEAD"]),
            Route("/icons/{filename}", docs.icon, methods=["GET", "HEAD"]),
            Route("/api/v1", api.index, methods=["GET", "HEAD"]),
            Mount("/api/v1", routes=api.routes(state)),
            *oauth_routes,
            *web.routes(state),
            *redirect_routes,
        ],
        lifespan=lifespan,
    )
    main.state.clypt = state
    return ClyptApp(main, mcp_apps, redirect.hot_path(redirect_routes))


def _limiter(
    store: Store, settings: Settings, shared: bool | None, clock: Callable[[], datetime]
) -> Limiter:
    """Counters in this process (a dictionary) or in the store (a write per request), in
    windows of the app's clock (a test moves them with its own clock, never by waiting)."""
    if shared is None:
        shared = _shared(store)
    limiter: Limiter = (
        StoreRateLimiter.parse(store, settings.rate_limit)
        if shared
        else RateLimiter.parse(settings.rate_limit)
    )
    limiter.clock = lambda: clock().timestamp()
    return limiter


def _shared(store: Store) -> bool:
    """Whether several processes or machines may use `store` at once (PostgreSQL), so that
    limits counted in it are shared by all of them. A store may say so itself (`shared`);
    otherwise a store reached by a database URL is one (SQLite's is a file path)."""
    declared = getattr(store, "shared", None)
    if isinstance(declared, bool):
        return declared
    return is_postgres_url(getattr(store, "url", None))
