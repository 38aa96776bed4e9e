"""The MCP and OAuth parts of the HTTP app, built on the first request that needs them (#20).

The MCP SDK, and what it imports (OpenTelemetry, cryptography, ...), takes about 30 MB of a
process that only ever serves redirects. So `create_app` puts in their places stand-ins with the
same paths and methods: the OAuth routes (`OAUTH_ROUTES`, in the same order as the real ones,
so Starlette matches and refuses exactly as before) and the MCP transports (`MCP_PREFIXES`).
The first request to any of them imports the SDK (in a worker thread, so redirects keep
flowing), builds the authorization server and both transports once, and from then on every
stand-in hands its requests to the real app. `AppState.oauth` builds the provider the same way
on first use.

The transports' lifespan (the streamable-HTTP session manager) runs in the app's lifespan task
group from the moment they are built until the app stops, as it ran from start to stop before.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.to_thread
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from clypt_mcp.errors import ClyptError
from clypt_mcp.http.state import AppState
from clypt_mcp.store.oauth import OAuthStore

if TYPE_CHECKING:
    from clypt_mcp.http.oauth import ClyptOAuthProvider

log = logging.getLogger(__name__)
Lifespan = Callable[[], AbstractAsyncContextManager[Any]]

# (path, methods) of every route `oauth.routes` makes, in its order; `_check` compares them.
OAUTH_ROUTES: tuple[tuple[str, frozenset[str]], ...] = (
    ("/.well-known/oauth-authorization-server", frozenset({"GET", "OPTIONS"})),
    ("/.well-known/oauth-protected-resource", frozenset({"GET", "OPTIONS"})),
    ("/.well-known/oauth-protected-resource/mcp", frozenset({"GET", "OPTIONS"})),
    ("/.well-known/oauth-protected-resource/sse", frozenset({"GET", "OPTIONS"})),
    ("/authorize", frozenset({"GET", "POST"})),
    ("/token", frozenset({"POST", "OPTIONS"})),
    ("/register", frozenset({"POST", "OPTIONS"})),
    ("/revoke", frozenset({"POST", "OPTIONS"})),
    ("/oauth/consent", frozenset({"GET"})),
    ("/oauth/consent", frozenset({"POST"})),
    ("/oauth/signin", frozenset({"GET"})),
)
# the path prefixes of the transports `mcp.mcp_transports` makes, in its order
MCP_PREFIXES: tuple[tuple[str, ...], ...] = (("/mcp",), ("/sse", "/messages"))
HEAVY_MODULES = ("clypt_mcp.http.oauth", "clypt_mcp.http.mcp")


class DeferredSurface:
    """The authorization server and the MCP transports of one app, built once, on demand."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self._provider: ClyptOAuthProvider | None = None
        self._routes: list[Route] | None = None
        self._apps: list[ASGIApp] | None = None
        self._lifespans: list[Lifespan] = []
        self._lock = anyio.Lock()
        self._group: anyio.abc.TaskGroup | None = None
        self._stop: anyio.Event | None = None
        self._started = False

    @property
    def loaded(self) -> bool:
        return self._apps is not None

    def provider(self) -> ClyptOAuthProvider:
        """The authorization server (`AppState.oauth`); imports the SDK the first time."""
        if self._provider is None:
            from clypt_mcp.http.oauth import ClyptOAuthProvider

            self._provider = ClyptOAuthProvider(self.state)
        return self._provider

    def routes(self) -> list[BaseRoute]:
        """Stand-ins for the OAuth routes: the same paths and methods, in the same order."""
        return [
            Route(path, _DeferredRoute(self, i), methods=sorted(methods))
            for i, (path, methods) in enumerate(OAUTH_ROUTES)
        ]

    def transports(self) -> list[tuple[tuple[str, ...], ASGIApp]]:
        """Stand-ins for the MCP transports, under the same prefixes."""
        return [(prefixes, _DeferredMcp(self, i)) for i, prefixes in enumerate(MCP_PREFIXES)]

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """The app's lifespan part: the transports' lifespans run in here once they are built."""
        async with anyio.create_task_group() as group:
            self._group, self._stop = group, anyio.Event()
            try:
                await self._start_lifespans()
                yield
            finally:
                self._group = None
                self._stop.set()  # each lifespan leaves its context as it would at shutdown

    async def route(self, index: int) -> Route:
        await self._load()
        assert self._routes is not None
        return self._routes[index]

    async def app(self, index: int) -> ASGIApp:
        await self._load()
        assert self._apps is not None
        return self._apps[index]

    async def _load(self) -> None:
        if self._apps is not None:
            return
        async with self._lock:
            if self._apps is not None:
                return
            # the imports take a while; in a worker thread the event loop goes on serving
            for name in HEAVY_MODULES:
                await anyio.to_thread.run_sync(importlib.import_module, name)
            from clypt_mcp.http import oauth
            from clypt_mcp.http.mcp import mcp_transports

            routes = oauth.routes(self.state, self.provider())
            transports, self._lifespans = mcp_transports(self.state)
            _check(routes, [prefixes for prefixes, _ in transports])
            self._routes = routes
            await self._start_lifespans()
            self._apps = [app for _, app in transports]

    async def _start_lifespans(self) -> None:
        if self._started or self._group is None or not self._lifespans:
            return
        self._started = True
        for lifespan in self._lifespans:
            await self._group.start(self._hold, lifespan)

    async def _hold(
        self,
        lifespan: Lifespan,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        assert self._stop is not None
        stop = self._stop
        async with lifespan():
            task_status.started()
            await stop.wait()


def _check(routes: list[Route], prefixes: list[tuple[str, ...]]) -> None:
    """The stand-ins must route exactly as the real parts do: same paths, methods and order."""
    made = tuple((r.path, frozenset(r.methods or ()) - {"HEAD"}) for r in routes)
    wanted = tuple((path, methods - {"HEAD"}) for path, methods in OAUTH_ROUTES)
    if made != wanted:
        raise RuntimeError(f"OAUTH_ROUTES is out of date: the routes are {made}")
    if tuple(prefixes) != MCP_PREFIXES:
        raise RuntimeError(f"MCP_PREFIXES is out of date: the transports are {prefixes}")


class _DeferredRoute:
    """A stand-in route's endpoint: hands the request to the real route's app."""

    def __init__(self, surface: DeferredSurface, index: int) -> None:
        self.surface = surface
        self.index = index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = await self.surface.route(self.index)
        scope["endpoint"] = route.endpoint  # what the real route would have put there
        await route.app(scope, receive, send)


class _DeferredMcp:
    """A stand-in transport: hands the request to the real transport."""

    def __init__(self, surface: DeferredSurface, index: int) -> None:
        self.surface = surface
        self.index = index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = await self.surface.app(self.index)
        await app(scope, receive, send)


class OAuthHousekeeping:
    """Drops expired OAuth codes, tokens, pending requests and sign-in links at start, then
    every `every` seconds, until `close()`. Apart from the provider, so that it runs whether or
    not this process has served an OAuth request yet."""

    def __init__(
        self, store: OAuthStore, every: float = 3600, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.every = every
        self.clock = clock
        self._stop = anyio.Event()

    def close(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                removed = await self.store.purge(int(self.clock() * 1_000_000))
                if removed:
                    log.info("removed %d expired OAuth rows", removed)
            except ClyptError as exc:
                log.warning("OAuth housekeeping failed: %s", exc.message)
            with anyio.move_on_after(self.every):
                await self._stop.wait()
