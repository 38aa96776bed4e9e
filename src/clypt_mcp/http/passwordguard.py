"""What stands between a password form and the scrypt check: the try budget and the CSRF token.

Tries are reserved before the password is checked (a try over a limit is answered 429 with
`Retry-After` and never checked), on counters with the semantics of `Store.count_request`:
in this process (`MemoryCounters`), or in the store when the app's rate limits are shared
(PostgreSQL, several workers), so every process draws on one budget.

- per link and client (`client_net`: an IPv4 address, or the /64 of an IPv6 one, since one
  host may hold all of its /64): `CLIENT_TRIES` a `CLIENT_WINDOW`;
- per link, all clients together: `LINK_TRIES` a `LINK_WINDOW`. The try that goes over locks
  the link for 1 minute, then 2, 4, … (at most `MAX_LOCK_MINUTES`) for each further lock the
  same UTC day. A lock is a marker per minute it covers, so any process sees it with one read.

Counter keys are keyed hashes (with the visitor-hash secret) of the link and client: the
counters never hold a client's address or a link's code.

The form's CSRF token is an HMAC of a random browser cookie and the link's code: good for every
later try from the same browser, useless to another site, which cannot read the page nor set
the cookie (`SameSite=Strict`, `HttpOnly`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import Protocol

CLIENT_TRIES = 5
CLIENT_WINDOW = 60
LINK_TRIES = 30
LINK_WINDOW = 600
MAX_LOCK_MINUTES = 64
DAY = 86400
COOKIE = "clypt_form"
COOKIE_AGE = DAY


class Counters(Protocol):
    """The two counter operations of `Store` the guard needs."""

    async def count_request(self, key: str, window_start: int, limit: int) -> int | None: ...

    async def request_count(self, key: str, window_start: int) -> int: ...


class MemoryCounters:
    """`Store.count_request` and `Store.request_count` in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.time, max_keys: int = 20_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._counts: dict[str, dict[int, int]] = {}

    async def count_request(self, key: str, window_start: int, limit: int) -> int | None:
        if limit < 1:
            return None
        windows = self._counts.setdefault(key, {})
        used = windows.get(window_start, 0)
        if used >= limit:
            return None
        windows[window_start] = used + 1
        if used == 0:
            for start in [s for s in windows if s < window_start]:
                del windows[start]
            if len(self._counts) > self.max_keys:
                self._forget()
        return used + 1

    async def request_count(self, key: str, window_start: int) -> int:
        return self._counts.get(key, {}).get(window_start, 0)

    def _forget(self) -> None:
        """Drop keys whose newest window started over a day ago (no window here is longer)."""
        old = self.clock() - DAY - 1
        for key in [k for k, w in self._counts.items() if max(w, default=0) < old]:
            del self._counts[key]


def client_net(address: IPv4Address | IPv6Address | None) -> str:
    """The unit a client is counted in: an IPv4 address, or an IPv6 /64."""
    if address is None:
        return "unknown"
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(IPv6Network((address, 64), strict=False))
    return str(address)


class TryGuard:
    """Reserves password tries; `reserve` answers 0 (go ahead and check) or the seconds to
    wait (do not check)."""

    def __init__(self, counters: Counters, secret: Callable[[], bytes], clock: Callable[[], float]):
        self.counters = counters
        self.secret = secret
        self.clock = clock
        self._lock_ends: dict[str, float] = {}  # locks this process began: when they end

    def _key(self, *parts: str) -> str:
        raw = "\0".join(parts).encode()
        return hashlib.blake2b(raw, key=self.secret()[:64], digest_size=16).hexdigest()

    async def reserve(self, link_id: str, client: str) -> int:
        c = self.counters
        now = self.clock()
        link = self._key("link", link_id)
        minute = int(now // 60) * 60
        if await c.request_count(f"password:lock:{link}", minute):
            return self._lock_wait(link, now, minute)
        start = int(now // CLIENT_WINDOW) * CLIENT_WINDOW
        mine = f"password:client:{self._key('client', link_id, client)}"
        if await c.count_request(mine, start, CLIENT_TRIES) is None:
            return max(1, math.ceil(start + CLIENT_WINDOW - now))
        day = int(now // DAY) * DAY
        strikes = await c.request_count(f"password:strikes:{link}", day)
        if strikes:
            # A try that passed the lock check above just before a lock began may read the
            # strikes after it: it must be refused before it counts on the lock's new budget,
            # or the link comes out of the lock with fewer than `LINK_TRIES` tries. That lock's
            # markers are written before its strike is counted, so they are there now; they
            # are read at the minute of a clock read now (after the strike), which a lock
            # begun since `now` covers even when it began in a later minute.
            late = self.clock()
            late_minute = int(late // 60) * 60
            if await c.request_count(f"password:lock:{link}:{strikes - 1}", late_minute):
                return self._lock_wait(link, late, late_minute)
        start = int(now // LINK_WINDOW) * LINK_WINDOW
        # One over the cap is counted too: the try that takes it there begins the lock. A try
        # that counted on the old budget within its cap goes ahead, even while the try after
        # it is beginning the lock.
        used = await c.count_request(f"password:link:{link}:{strikes}", start, LINK_TRIES + 1)
        if used is None:  # another try is locking the link at this moment
            return max(1, math.ceil(minute + 60 - now))
        if used <= LINK_TRIES:
            return 0
        minutes = min(1 << strikes, MAX_LOCK_MINUTES)
        # newest minute first: a counter key's first count in a window deletes its older ones
        for m in range(minutes, -1, -1):
            await c.count_request(f"password:lock:{link}:{strikes}", minute + 60 * m, 1)
            await c.count_request(f"password:lock:{link}", minute + 60 * m, 1)
        await c.count_request(f"password:strikes:{link}", day, 1_000_000)
        end = minute + 60 * (minutes + 1)
        self._lock_ends[link] = end
        if len(self._lock_ends) > 10_000:
            self._lock_ends = {k: e for k, e in self._lock_ends.items() if e > now}
        return math.ceil(end - now)

    def _lock_wait(self, link: str, now: float, minute: int) -> int:
        """Till the end of a lock this process began, else of the current (locked) minute."""
        end = self._lock_ends.get(link)
        if end is None or end <= now:
            end = minute + 60
        return max(1, math.ceil(end - now))


def form_token(secret: bytes, cookie: str, code: str) -> str:
    """The CSRF token of the form of `code` for the browser holding `cookie`."""
    raw = f"form\0{cookie}\0{code}".encode()
    return hmac.new(secret[:64], raw, hashlib.sha256).hexdigest()[:32]


def token_ok(secret: bytes, cookie: str | None, code: str, token: str | None) -> bool:
    if not cookie or not token:
        return False
    return hmac.compare_digest(form_token(secret, cookie, code), token)


def new_cookie() -> str:
    return secrets.token_urlsafe(18)


def set_cookie_header(value: str, secure: bool) -> str:
    flags = f"; Path=/; Max-Age={COOKIE_AGE}; HttpOnly; SameSite=Strict"
    return f"{COOKIE}={value}{flags}{'; Secure' if secure else ''}"


def read_cookie(header: str | None) -> str | None:
    """The form cookie from a `Cookie` header, when it has the shape `new_cookie` makes."""
    if not header:
        return None
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            value = value.strip()
            ok = 16 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()
            return value if ok and value.isascii() else None
    return None


def foreign_origin(origin: str | None, host: str | None, base: str) -> bool:
    """True when a POST's `Origin` names another site than the one it was sent to (the
    request's `Host`) and than `base`. A missing or opaque (`null`, which browsers send under
    `Referrer-Policy: no-referrer`) `Origin` is not foreign: the token judges such a post, and
    a page of another site cannot have this browser's token."""
    if origin is None or origin.strip() == "null":
        return False
    got = _netloc(origin)
    if got is None:
        return True
    return got != _host(host) and got != _netloc(base)


def _netloc(origin: str) -> str | None:
    scheme, sep, rest = origin.strip().lower().partition("://")
    if not sep or scheme not in ("http", "https") or not rest or "/" in rest.rstrip("/"):
        return None
    return _host(rest.rstrip("/"))


def _host(host: str | None) -> str:
    host = (host or "").strip().lower()
    for port in (":80", ":443"):
        if host.endswith(port):
            return host[: -len(port)]
    return host
