"""GET|HEAD /{code}: redirects that record clicks, the password form, 404 and 410 pages.

The redirect answers first: its click goes on the ClickRecorder's queue, which the app's
lifespan writes in batches. The hot path reads the store at most once a second per code (links
are cached for `LINK_TTL`, so a change to a link reaches redirects within that time) and writes
only for a link with `max_clicks`, whose atomic count keeps the limit exact.

HEAD answers like GET but records no click and does not count towards `max_clicks`: link
checkers and previewers use it, people do not. POST carries the password form and answers
303 See Other to the destination. A post whose `Origin` is another site is refused (403) first;
then its CSRF token must match the browser's form cookie (else 403 and a fresh form); then a try
is reserved (`passwordguard.TryGuard`: per link and client, and per link; over either limit 429
with `Retry-After`, unchecked); only then is the password checked, in the password worker pool
(a full queue: 503 with `Retry-After`). Every refusal looks like a wrong password to a script
on another site, which cannot read the answers.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network, ip_address
from urllib.parse import parse_qs, urlsplit

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from clypt_mcp.core.domains import host_name
from clypt_mcp.core.redirects import (
    Card,
    Deferred,
    HostCache,
    LinkCache,
    Neutral,
    NotFound,
    Outcome,
    PasswordRequired,
    Redirect,
    Redirector,
    Unavailable,
    UnknownHost,
)
from clypt_mcp.core.visitors import (
    CountryLookup,
    Visitor,
    VisitorHasher,
    VisitorInspector,
    client_ip,
)
from clypt_mcp.errors import BusyError, StoreUnavailableError, UnavailableError
from clypt_mcp.http import pages
from clypt_mcp.http.passwordguard import (
    Counters,
    MemoryCounters,
    TryGuard,
    client_net,
    foreign_origin,
    form_token,
    new_cookie,
    read_cookie,
    set_cookie_header,
    token_ok,
)
from clypt_mcp.http.ratelimit import StoreRateLimiter, parse_limit
from clypt_mcp.http.state import AppState
from clypt_mcp.models import ClickEvent

log = logging.getLogger(__name__)

LINK_TTL = 0.75  # seconds a looked-up link is reused before the store is asked again (#11:
# with a lookup in flight the previous answer serves on, so 0.25 s is left for it in the 1 s bound)
MAX_FORM_BYTES = 4096
UNKNOWN_CODES = 60  # visits to codes that do not exist, per client address a minute
REDIRECT_HEADERS = {"cache-control": "no-store"}
QR_MARKER = b"qr=1"  # the query get_qr_code adds to the short URL; never passed on
MAX_RATE_KEYS = 200_000  # (link, client) pairs tracked per window; beyond, nobody is suspect


class ClickRate:
    """Clicks per (link, client address) in fixed windows (`CLYPT_CLICK_RATE`), in this
    process: a visit beyond the limit is `suspect`. Memory is the pairs of one window."""

    def __init__(self, limit: int, window: int, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._start = 0
        self._counts: dict[tuple[str, str], int] = {}

    def over(self, link_id: str, client: str) -> bool:
        start = int(self.clock() // self.window) * self.window
        if start != self._start:
            self._start, self._counts = start, {}
        key = (link_id, client)
        n = self._counts.get(key, 0) + 1
        if n == 1 and len(self._counts) >= MAX_RATE_KEYS:
            return False
        self._counts[key] = n
        return n > self.limit


@dataclass(slots=True)
class Hit:
    """What a redirect reads from a request: the peer and three headers."""

    peer: str | None
    user_agent: str | None
    referrer: str | None
    forwarded_for: list[str]
    qr: bool = False  # came through the link's QR code (the short URL with `?qr=1`)
    host: str = ""  # the `Host` header's name (no port)
    forwarded_host: str = ""  # X-Forwarded-Host's first name, believed from trusted proxies

    @classmethod
    def from_scope(cls, scope: Scope) -> Hit:
        """Straight from the ASGI scope (header names arrive lower-cased), no Request."""
        user_agent = referrer = None
        forwarded: list[str] = []
        host = forwarded_host = ""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == b"referer":
                referrer = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
            elif name == b"host":
                host = host_name(value.decode("latin-1"))
            elif name == b"x-forwarded-host" and not forwarded_host:
                forwarded_host = host_name(value.decode("latin-1").split(",")[0])
        client = scope.get("client")
        qr = QR_MARKER in scope.get("query_string", b"").split(b"&")
        peer = client[0] if client else None
        return cls(peer, user_agent, referrer, forwarded, qr, host, forwarded_host)


class RedirectHandler:
    """The per-app collaborators of the redirect routes; the visitor parts are made on first
    use, so an app that never redirects never reads the visitor-hash secret (which lives in
    the store, so every process and machine on it hashes a visitor alike)."""

    def __init__(self, state: AppState, link_ttl: float = LINK_TTL) -> None:
        self.state = state
        self.clock: Callable[[], datetime] = state.clock
        self.links = LinkCache(state.store, ttl=link_ttl)
        state.service.link_listeners.append(self.links.forget)  # changes apply at once here
        self.redirector = Redirector(
            state.store, self.links, click_param=state.settings.click_id_param
        )
        self.hosts = HostCache(state.service.domain_for_host, ttl=link_ttl)
        state.service.domain_listeners.append(self.hosts.forget)
        counters: Counters = (
            state.store
            if isinstance(state.limiter, StoreRateLimiter)
            else MemoryCounters(self.timestamp)
        )
        self.tries = TryGuard(counters, self._known_secret, self.timestamp)
        self.counters = counters
        self._inspector: VisitorInspector | None = None
        self.rate = ClickRate(*parse_limit(state.settings.click_rate))
        self._secret: bytes | None = None

    def timestamp(self) -> float:
        """Unix time by the service's clock (which tests move)."""
        return self.clock().timestamp()

    async def secret(self) -> bytes:
        """The store's visitor-hash secret: the key of try counters and form tokens."""
        if self._secret is None:
            self._secret = await self.state.store.visitor_secret()
        return self._secret

    def _known_secret(self) -> bytes:
        assert self._secret is not None, "secret() first"
        return self._secret

    async def inspector(self) -> VisitorInspector:
        if self._inspector is None:
            secret = await self.secret()
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

    def request_host(self, hit: Hit) -> str:
        """The host the visitor asked for: X-Forwarded-Host from a trusted proxy, else Host."""
        if hit.forwarded_host and trusted_peer(hit.peer, self.state.settings.trusted_proxies):
            return hit.forwarded_host
        return hit.host

    async def domain(self, hit: Hit) -> str | None:
        """The domain id the request came to (None: the server's own host).
        Raises: UnknownHost."""
        return await self.hosts.get(self.request_host(hit))

    async def visit(self, code: str, hit: Hit, head: bool, domain: str | None = None) -> Outcome:
        """GET and HEAD: resolve, and queue the click of a GET that redirects."""
        now = self.clock()
        visitor = await self.visitor(hit, now)
        outcome = await self.redirector.resolve(
            code,
            now=now,
            country=visitor.country,
            device=(visitor.agent.platform, visitor.agent.device),
            count=not head,
            person=not visitor.agent.bot,
            domain=domain,
            unfurler=visitor.agent.traffic == "preview",
        )
        if isinstance(outcome, Redirect | Neutral | Card) and not head:
            self.record(outcome, visitor, now, hit)
        return outcome

    async def post(self, request: Request) -> Response:
        """The password form: origin, token, a reserved try, then the check (module doc)."""
        code: str = request.path_params["code"]
        headers = request.headers
        if foreign_origin(headers.get("origin"), headers.get("host"), self.state.settings.base):
            return pages.cross_site(self.short(code))
        hit = Hit.from_scope(request.scope)
        try:
            domain = await self.domain(hit)
        except UnknownHost:
            return pages.unknown_host()
        now = self.clock()
        link = await self.links.get(code, domain)
        asks = link is not None and link.password_hash is not None and not link.unavailable(now)
        form = await read_form(request)
        password = form.get("password") if form is not None else None
        if asks:
            assert link is not None
            cookie = read_cookie(headers.get("cookie"))
            token = form.get("csrf") if form is not None else None
            if not token_ok(await self.secret(), cookie, code, token):
                return await self.form(code, cookie, headers.get("host"), expired=True)
            if wait := await self.tries.reserve(link.id, self.client_key(hit)):
                return pages.too_many_tries(self.short(code), wait)
        visitor = await self.visitor(hit, now)
        try:
            outcome = await self.redirector.resolve(
                code,
                now=now,
                country=visitor.country,
                device=(visitor.agent.platform, visitor.agent.device),
                password=password if password is not None else "",
                domain=domain,
            )  # a form post is a person typing a password, whatever sends it
        except BusyError as exc:
            return pages.busy(self.short(code), int(exc.details.get("retry_after", 2)))
        if isinstance(outcome, Redirect):
            self.record(outcome, visitor, now, hit)
            headers_out = {**REDIRECT_HEADERS, "location": outcome.target.location}
            return Response(status_code=303, headers=headers_out)
        if isinstance(outcome, PasswordRequired):
            cookie = read_cookie(headers.get("cookie"))
            return await self.form(code, cookie, headers.get("host"), wrong=outcome.wrong)
        if isinstance(outcome, Deferred):
            return pages.limit_unchecked(self.short(code))
        return self.page(outcome, code)

    async def form(
        self,
        code: str,
        cookie: str | None,
        host: str | None,
        *,
        wrong: bool = False,
        expired: bool = False,
    ) -> Response:
        """The password form with the CSRF token of this browser's cookie (set when it has
        none yet; `Secure` when the request came to the https base URL's host)."""
        fresh = cookie is None
        cookie = cookie or new_cookie()
        token = form_token(await self.secret(), cookie, code)
        response = pages.password_form(self.short(code), wrong=wrong, token=token, expired=expired)
        if fresh:
            base = self.state.settings.base
            secure = base.startswith("https:") and urlsplit(base).netloc == (host or "").lower()
            response.headers.append("set-cookie", set_cookie_header(cookie, secure))
        return response

    async def probing(self, hit: Hit) -> int:
        """Count a visit to an unknown code for its client: seconds to wait when the client is
        over `UNKNOWN_CODES` a minute, else 0. Known links are never refused for rate."""
        now = self.timestamp()
        start = int(now // 60) * 60
        client = hashlib.blake2b(
            self.client_key(hit).encode(), key=(await self.secret())[:64], digest_size=16
        ).hexdigest()
        if await self.counters.count_request(f"unknown:{client}", start, UNKNOWN_CODES) is None:
            return max(1, math.ceil(start + 60 - now))
        return 0

    def client_key(self, hit: Hit) -> str:
        address = client_ip(hit.peer, hit.forwarded_for, self.state.settings.trusted_proxies)
        return client_net(address)

    def short(self, code: str) -> str:
        return pages.short_label(self.state.settings.base, code)

    def page(
        self, outcome: NotFound | Unavailable | Neutral | Card, code: str, domain_host: str = ""
    ) -> Response:
        """The page for `code`; on a custom domain (`domain_host`) the label names it."""
        if isinstance(outcome, Card):
            assert outcome.link.preview is not None
            base = f"https://{domain_host}" if domain_host else self.state.settings.base
            return pages.card(f"{base}/{outcome.link.code}", *outcome.link.preview)
        short = self.short(code)
        if domain_host:
            short = pages.short_label(f"https://{domain_host}", code)
        if isinstance(outcome, Neutral):
            return pages.neutral(short)
        if isinstance(outcome, NotFound):
            return pages.not_found(short)
        return pages.unavailable(short, outcome.link, outcome.reason)

    def record(
        self, outcome: Redirect | Neutral | Card, visitor: Visitor, now: datetime, hit: Hit
    ) -> None:
        """Queue the visit with its traffic class: a person through the QR code is `qr`, one
        beyond `CLYPT_CLICK_RATE` on this link from this address `suspect` (not a click)."""
        agent = visitor.agent
        kind: str = agent.traffic
        if kind == "human":
            if self.rate.over(outcome.link.id, self.client_key(hit)):
                kind = "suspect"
            elif hit.qr:
                kind = "qr"
        event = ClickEvent(
            link_id=outcome.link.id,
            workspace_id=outcome.link.workspace_id,
            at=now,
            variant=outcome.target.variant if isinstance(outcome, Redirect) else None,
            country=visitor.country,
            device=agent.device,
            browser=agent.browser,
            os=agent.os,
            referrer=visitor.referrer,
            visitor=visitor.visitor_hash,
            traffic=kind,
            city=visitor.city,
            click_id=outcome.click_id if isinstance(outcome, Redirect) else None,
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
        except UnavailableError as exc:  # a code this process has not seen, store away
            log.log(_quiet(exc), "redirect for %s: %s", scope.get("path"), exc.message)
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
        hit = Hit.from_scope(scope)
        try:
            domain = await self.handler.domain(hit)
        except UnknownHost:
            return pages.unknown_host()
        outcome = await self.handler.visit(code, hit, scope["method"] == "HEAD", domain)
        if isinstance(outcome, NotFound) and (wait := await self.handler.probing(hit)):
            return pages.too_many_unknown(wait)
        if isinstance(outcome, Redirect):
            # a fresh list: a middleware may edit the headers of the message it passes on
            headers = [*outcome.target.headers, *_REDIRECT_HEADER_BYTES]
            return {"type": "http.response.start", "status": 302, "headers": headers}
        if isinstance(outcome, Deferred):
            return pages.limit_unchecked(self.handler.short(code))
        if isinstance(outcome, PasswordRequired):
            found = {n: v.decode("latin-1") for n, v in scope["headers"] if n in _FORM_HEADERS}
            cookie = read_cookie(found.get(b"cookie"))
            return await self.handler.form(code, cookie, found.get(b"host"))
        return self.handler.page(outcome, code, self.handler.request_host(hit) if domain else "")


def _quiet(exc: UnavailableError) -> int:
    """The outage itself is logged once by the health check, not on every redirect."""
    return logging.DEBUG if isinstance(exc, StoreUnavailableError) else logging.WARNING


_FORM_HEADERS = frozenset({b"cookie", b"host"})
_REDIRECT_HEADER_BYTES = [
    (b"cache-control", b"no-store"),
    (b"content-length", b"0"),
    (b"x-content-type-options", b"nosniff"),
]


def trusted_peer(peer: str | None, proxies: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    """Whether the connection comes from one of CLYPT_TRUSTED_PROXIES."""
    if not peer or not proxies:
        return False
    try:
        address = ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in proxies)


async def read_form(request: Request) -> dict[str, str] | None:
    """The fields of a small urlencoded form (first value of each); None when too large,
    cut off or unreadable."""
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
    return {name: values[0] for name, values in fields.items() if values}


def _guard(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A store outage or a bug becomes a small error page, never a traceback."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except UnavailableError as exc:
            log.log(_quiet(exc), "redirect for %s: %s", request.url.path, exc.message)
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
