"""GET|HEAD /{code}: redirects that record clicks, the password form, 404 and 410 pages.

The redirect answers first: its click goes on the ClickRecorder's queue, which the app's
lifespan writes in batches. The hot path reads the store at most once a second per code (links
are cached for `LINK_TTL`, so a change to a link reaches redirects within that time) and writes
only for a link with `max_clicks`, whose atomic count keeps the limit exact.

HEAD answers like GET but records no click and does not count towards `max_clicks`: link
checkers and previewers use it, people do not. POST carries the password form and answers
303 See Other to the destination; wrong passwords are limited to PASSWORD_TRIES per link and
client per PASSWORD_WINDOW seconds: counted in the process, or in the store when the app's rate
limits are (PostgreSQL, several workers), so every process refuses alike.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from clypt_mcp.core.redirects import (
    LinkCache,
    NotFound,
    Outcome,
    PasswordRequired,
    Redirect,
    Redirector,
    Unavailable,
)
from clypt_mcp.core.visitors import (
    CountryLookup,
    Visitor,
    VisitorHasher,
    VisitorInspector,
    client_ip,
)
from clypt_mcp.errors import UnavailableError
from clypt_mcp.http import pages
from clypt_mcp.http.ratelimit import StoreRateLimiter
from clypt_mcp.http.state import AppState
from clypt_mcp.models import ClickEvent
from clypt_mcp.store.base import Store

log = logging.getLogger(__name__)

LINK_TTL = 1.0  # seconds a looked-up link is reused before the store is asked again
PASSWORD_TRIES = 5  # wrong passwords allowed per link and client ...
PASSWORD_WINDOW = 60  # ... in this many seconds
MAX_FORM_BYTES = 4096
REDIRECT_HEADERS = {"cache-control": "no-store"}


class TryLimiter:
    """Counts wrong passwords per (code, client) in this process, in windows that start at a
    key's first wrong try."""

    def __init__(
        self,
        limit: int = PASSWORD_TRIES,
        window: int = PASSWORD_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._tries: dict[tuple[str, str], tuple[float, int]] = {}

    async def retry_after(self, key: tuple[str, str]) -> int:
        """Seconds until `key` may try again; 0 when it may now."""
        start, used = self._tries.get(key, (0.0, 0))
        left = start + self.window - self.clock()
        if left <= 0:
            self._tries.pop(key, None)
            return 0
        return math.ceil(left) if used >= self.limit else 0

    async def wrong(self, key: tuple[str, str]) -> None:
        now = self.clock()
        start, used = self._tries.get(key, (now, 0))
        if start + self.window <= now:
            start, used = now, 0
        self._tries[key] = (start, used + 1)
        if len(self._tries) > 10_000:
            for k in [k for k, (s, _) in self._tries.items() if s + self.window <= now]:
                del self._tries[k]


class StoreTryLimiter:
    """Counts wrong passwords per (code, client) in the store (`Store.count_request`), in
    epoch-aligned windows, so every process on the database draws on one budget per client.

    The counter's key is a keyed hash of code and client (keyed with the visitor-hash secret):
    the table never holds a client's address.
    """

    def __init__(
        self,
        store: Store,
        limit: int = PASSWORD_TRIES,
        window: int = PASSWORD_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.limit = limit
        self.window = window
        self.clock = clock
        self._secret: bytes | None = None

    async def _key(self, key: tuple[str, str]) -> str:
        if self._secret is None:
            self._secret = await self.store.visitor_secret()
        digest = hashlib.blake2b("\0".join(key).encode(), key=self._secret[:64], digest_size=16)
        return "password:" + digest.hexdigest()

    def _window(self) -> tuple[float, int]:
        now = self.clock()
        return now, int(now // self.window) * self.window

    async def retry_after(self, key: tuple[str, str]) -> int:
        """Seconds until `key` may try again; 0 when it may now."""
        now, start = self._window()
        used = await self.store.request_count(await self._key(key), start)
        return max(1, math.ceil(start + self.window - now)) if used >= self.limit else 0

    async def wrong(self, key: tuple[str, str]) -> None:
        _, start = self._window()
        await self.store.count_request(await self._key(key), start, self.limit)


@dataclass(slots=True)
class Hit:
    """What a redirect reads from a request: the peer and three headers."""

    peer: str | None
    user_agent: str | None
    referrer: str | None
    forwarded_for: list[str]

    @classmethod
    def from_scope(cls, scope: Scope) -> Hit:
        """Straight from the ASGI scope (header names arrive lower-cased), no Request."""
        user_agent = referrer = None
        forwarded: list[str] = []
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == b"referer":
                referrer = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
        client = scope.get("client")
        return cls(client[0] if client else None, user_agent, referrer, forwarded)


class RedirectHandler:
    """The per-app collaborators of the redirect routes; the visitor parts are made on first
    use, so an app that never redirects never reads the visitor-hash secret (which lives in
    the store, so every process and machine on it hashes a visitor alike)."""

    def __init__(self, state: AppState, link_ttl: float = LINK_TTL) -> None:
        self.state = state
        self.clock: Callable[[], datetime] = state.clock
        self.links = LinkCache(state.store, ttl=link_ttl)
        self.redirector = Redirector(state.store, self.links)
        self.tries: TryLimiter | StoreTryLimiter = (
            StoreTryLimiter(state.store)
            if isinstance(state.limiter, StoreRateLimiter)
            else TryLimiter()
        )
        self._inspector: VisitorInspector | None = None

    async def inspector(self) -> VisitorInspector:
        if self._inspector is None:
            secret = await self.state.store.visitor_secret()
            settings = self.state.settings
            self._inspector = VisitorInspector(
                settings.trusted_proxies,
                CountryLookup(settings.geoip_db),
                VisitorHasher(secret),
            )
        return self._inspector

    async def visitor(self, hit: Hit, now: datetime) -> Visitor:
        inspector = self._inspector or await self.inspector()
        return inspector.inspect(
            peer=hit.peer,
            forwarded_for=hit.forwarded_for,
            user_agent=hit.user_agent,
            referrer=hit.referrer,
            day=now.date(),
        )

    async def visit(self, code: str, hit: Hit, head: bool) -> Outcome:
        """GET and HEAD: resolve, and queue the click of a GET that redirects."""
        now = self.clock()
        visitor = await self.visitor(hit, now)
        outcome = await self.redirector.resolve(
            code, now=now, country=visitor.country, device=visitor.agent.device, count=not head
        )
        if isinstance(outcome, Redirect) and not head:
            self.record(outcome, visitor, now)
        return outcome

    async def post(self, request: Request) -> Response:
        """The password form: wrong tries are limited per link and client."""
        code: str = request.path_params["code"]
        hit = Hit.from_scope(request.scope)
        now = self.clock()
        key = (code, self.client_key(hit))
        link = await self.links.get(code)
        asks = link is not None and link.password_hash is not None and not link.unavailable(now)
        if asks and (wait := await self.tries.retry_after(key)):
            return pages.too_many_tries(self.short(code), wait)
        password = await read_password(request)
        visitor = await self.visitor(hit, now)
        outcome = await self.redirector.resolve(
            code,
            now=now,
            country=visitor.country,
            device=visitor.agent.device,
            password=password if password is not None else "",
        )
        if isinstance(outcome, PasswordRequired) and outcome.wrong:
            await self.tries.wrong(key)
        if isinstance(outcome, Redirect):
            self.record(outcome, visitor, now)
            headers = {**REDIRECT_HEADERS, "location": outcome.target.location}
            return Response(status_code=303, headers=headers)
        return self.page(outcome, code)

    def client_key(self, hit: Hit) -> str:
        address = client_ip(hit.peer, hit.forwarded_for, self.state.settings.trusted_proxies)
        return str(address or "unknown")

    def short(self, code: str) -> str:
        return pages.short_label(self.state.settings.base, code)

    def page(self, outcome: NotFound | Unavailable | PasswordRequired, code: str) -> Response:
        if isinstance(outcome, NotFound):
            return pages.not_found(self.short(code))
        if isinstance(outcome, Unavailable):
            return pages.unavailable(self.short(code), outcome.link, outcome.reason)
        return pages.password_form(self.short(code), wrong=outcome.wrong)

    def record(self, outcome: Redirect, visitor: Visitor, now: datetime) -> None:
        agent = visitor.agent
        event = ClickEvent(
            link_id=outcome.link.id,
            workspace_id=outcome.link.workspace_id,
            at=now,
            variant=outcome.target.variant,
            country=visitor.country,
            device=agent.device,
            browser=agent.browser,
            os=agent.os,
            referrer=visitor.referrer,
            visitor=visitor.visitor_hash,
            bot=agent.bot,
        )
        try:
            self.state.recorder.record(event)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            log.warning("click on %s after shutdown began: not recorded", outcome.link.code)


class RedirectEndpoint:
    """GET and HEAD as a plain ASGI app: the hot path skips Starlette's Request and Response
    objects and sends a 302 whose header bytes were worked out when the link was loaded."""

    def __init__(self, handler: RedirectHandler, any_path: bool = False) -> None:
        self.handler = handler
        self.any_path = any_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self.respond(scope)
        except UnavailableError as exc:
            log.warning("redirect for %s: %s", scope.get("path"), exc.message)
            response = pages.server_error(503)
        except Exception:
            log.exception("redirect for %s failed", scope.get("path"))
            response = pages.server_error()
        if isinstance(response, Response):
            await response(scope, receive, send)
            return
        await send(response)
        await send({"type": "http.response.body", "body": b""})

    async def respond(self, scope: Scope) -> Response | Message:
        """A page, or the `http.response.start` message of the redirect."""
        if self.any_path:  # `/code/` is `/code`; anything deeper is a 404 page
            path: str = scope["path_params"]["path"]
            code = path.rstrip("/")
            if not code or "/" in code:
                return pages.not_found(self.handler.short(path))
        else:
            code = scope["path_params"]["code"]
        outcome = await self.handler.visit(code, Hit.from_scope(scope), scope["method"] == "HEAD")
        if isinstance(outcome, Redirect):
            # a fresh list: a middleware may edit the headers of the message it passes on
            headers = [*outcome.target.headers, *_REDIRECT_HEADER_BYTES]
            return {"type": "http.response.start", "status": 302, "headers": headers}
        return self.handler.page(outcome, code)


_REDIRECT_HEADER_BYTES = [(b"cache-control", b"no-store"), (b"content-length", b"0")]


async def read_password(request: Request) -> str | None:
    """The `password` field of a small urlencoded form; None when absent or unreadable."""
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_FORM_BYTES:
                return None
    except ClientDisconnect:  # gone, or cut off for sending too slowly
        return None
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get("password")
    return values[0] if values else None


def _guard(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A store outage or a bug becomes a small error page, never a traceback."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except UnavailableError as exc:
            log.warning("redirect for %s: %s", request.url.path, exc.message)
            return pages.server_error(503)
        except Exception:
            log.exception("redirect for %s failed", request.url.path)
            return pages.server_error()

    return endpoint


def routes(state: AppState, *, link_ttl: float = LINK_TTL) -> list[BaseRoute]:
    """The catch-all short-link routes; mounted last. A change to a link reaches redirects
    within `link_ttl` seconds (0: every redirect reads the store)."""
    handler = RedirectHandler(state, link_ttl)
    return [
        Route("/{code}", RedirectEndpoint(handler), methods=["GET", "HEAD"]),
        Route("/{code}", _guard(handler.post), methods=["POST"]),
        Route("/{path:path}", RedirectEndpoint(handler, any_path=True), methods=["GET", "HEAD"]),
    ]


def hot_path(routes: list[BaseRoute]) -> RedirectEndpoint:
    """The `GET|HEAD /{code}` endpoint among `routes()`, for the app to call directly."""
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        if isinstance(endpoint, RedirectEndpoint) and not endpoint.any_path:
            return endpoint
    raise LookupError("routes() has no /{code} endpoint")
