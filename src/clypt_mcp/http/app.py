"""create_app: one ASGI app for redirects, REST API v1, /llms.txt, /healthz and MCP over HTTP."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.housekeeping import Housekeeping
from clypt_mcp.core.idempotency import Idempotency
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http import api, redirect
from clypt_mcp.http.ratelimit import Limiter, RateLimiter, StoreRateLimiter
from clypt_mcp.http.state import AppState
from clypt_mcp.models import utcnow
from clypt_mcp.store.base import Store
from clypt_mcp.tools.resources import guide_text

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
            if isinstance(route, Route) and "{" not in route.path
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            path: str = scope["path"]
            if path.startswith(self._mcp_prefixes):
                for prefixes, app in self.mcp_apps:
                    if any(path == p or path.startswith(p + "/") for p in prefixes):
                        await app(scope, receive, send)
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
        await self.main(scope, receive, send)


_REDIRECT_METHODS = frozenset({"GET", "HEAD"})


def create_app(
    service: ClyptService,
    settings: Settings,
    recorder: ClickRecorder | None = None,
    *,
    store: Store,
    clock: Callable[[], datetime] = utcnow,
    with_mcp: bool = True,
    shared_limits: bool | None = None,
) -> ClyptApp:
    """The whole HTTP surface over `service`, which was built on `store` and `clock`.

    Without a `recorder`, the app makes one and runs it in its lifespan (as `serve` does),
    beside `Housekeeping` (raw-click retention, old idempotency keys and counters); a caller
    that passes one runs it itself (tests over ASGITransport, which has no lifespan).
    `shared_limits` counts rate limits in the store, for every process on it to share; by
    default when the store is shared (PostgreSQL) (`serve --workers N` asks for it on SQLite too).
    """
    own_recorder = recorder is None
    state = AppState(
        service=service,
        store=store,
        clock=clock,
        settings=settings,
        recorder=recorder or ClickRecorder(store),
        idempotency=Idempotency(store, clock),
        limiter=_limiter(store, settings, shared_limits, clock),
    )
    mcp_apps: list[tuple[tuple[str, ...], ASGIApp]] = []
    lifespans: list[Any] = []
    if with_mcp:
        from clypt_mcp.http.mcp import mcp_transports

        mcp_apps, lifespans = mcp_transports(state)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for cm in lifespans:
                await stack.enter_async_context(cm())
            if not own_recorder:
                yield
                return
            housekeeping = Housekeeping(store, settings.click_retention_days)
            async with anyio.create_task_group() as tg:
                tg.start_soon(state.recorder.run)
                tg.start_soon(housekeeping.run)
                try:
                    yield
                finally:
                    state.recorder.close()  # run() drains the queue, then the group exits
                    housekeeping.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def llms_txt(request: Request) -> Response:
        return PlainTextResponse(guide_text(), media_type="text/markdown; charset=utf-8")

    redirect_routes = redirect.routes(state)
    main = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/llms.txt", llms_txt, methods=["GET", "HEAD"]),
            Mount("/api/v1", routes=api.routes(state)),
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
        shared = store.shared
    limiter: Limiter = (
        StoreRateLimiter.parse(store, settings.rate_limit)
        if shared
        else RateLimiter.parse(settings.rate_limit)
    )
    limiter.clock = lambda: clock().timestamp()
    return limiter
