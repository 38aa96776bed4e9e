"""Redirect rules over the Store: may a short link redirect now, and where to.

Order of checks: unknown code (404), deleted, disabled, not started yet, expired, click limit
(410 each, with that reason), then the password. The destination is the first that applies of:
the `geo` rule for the visitor's country, the `devices` rule for the visitor's platform (`ios`,
`android`, `desktop`) and then for their device type (`mobile`, `tablet`: the platform key, more
specific, wins), an
A/B variant drawn by weight (its label, or `#n` for the n-th variant, is recorded; once the
link's A/B test has a winner, always that one), the link's `url`.

UTM merge rule: the link's `utm_*` values are set in the destination's query. Every other
parameter is kept exactly as written, in order; a `utm_*` key the destination already carries
gets the link's value in place (its later duplicates are dropped), so no key appears twice;
keys it lacks are appended in the order source, medium, campaign, term, content. The fragment is
kept. The result is an ASCII URI (IDN host in punycode, other non-ASCII percent-encoded).

`max_clicks` is exact: each redirect of such a link is counted by the store atomically
(`count_redirect`) before the 302, so N visitors at once get exactly `max_clicks` redirects,
whatever the number of processes. Links without `max_clicks` never write on the redirect path;
their clicks are counted when the click recorder writes them. HEAD (`count=False`) is not counted.

Links are read through `LinkCache`: compiled once (destinations merged and made ASCII), kept for
a short time, one store lookup per code at a time.

When the store is away (`UnavailableError`), the cache answers from its last-known-good copy of
each link it resolved recently (the `max_size` most recent, however long the outage lasts), so
printed links keep working; a code it never saw raises, and the redirect answers 503 with
`Retry-After` (never a 404 that would tell a crawler the link is gone). A `max_clicks` link
whose count cannot be taken gets `Deferred`: it stops redirecting rather than overshoot.
"""

from __future__ import annotations

import bisect
import random
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import anyio
import anyio.to_thread

from clypt_mcp.core.passwords import check_password
from clypt_mcp.errors import BusyError, NotFoundError, UnavailableError
from clypt_mcp.models import UnavailableReason, unavailable_because
from clypt_mcp.store.base import LinkRecord, Store

Reason = UnavailableReason
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Characters left as they are when a destination is made ASCII: RFC 3986 reserved and
# unreserved characters, and `%` so existing escapes survive.
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"


@dataclass(frozen=True, slots=True)
class Target:
    """One possible destination, ready for a `Location` header."""

    location: str
    variant: str | None = None

    @property
    def headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The raw `Location` header (the location is ASCII by construction)."""
        return ((b"location", self.location.encode("ascii")),)


@dataclass(frozen=True, slots=True)
class CompiledLink:
    """A link with everything a redirect needs worked out once."""

    id: str
    workspace_id: str
    code: str
    password_hash: str | None
    deleted: bool
    disabled: bool
    starts_at: datetime | None
    expires_at: datetime | None
    max_clicks: int | None
    redirects: int  # as loaded: a lower bound, since it only grows
    default: Target
    geo: dict[str, Target]
    devices: dict[str, Target]
    variants: tuple[Target, ...]
    cumulative_weights: tuple[int, ...]
    # the link's own social card as (title, description, image), for unfurlers (#14 item 4)
    preview: tuple[str, str | None, str | None] | None = None
    track_conversions: bool = False

    @classmethod
    def from_record(cls, rec: LinkRecord) -> CompiledLink:
        utm = {key: value for key in UTM_KEYS if (value := getattr(rec, key))}

        def target(url: str, variant: str | None = None) -> Target:
            return Target(to_location(merge_utm(url, utm)), variant)

        variants: list[Target] = []
        weights: list[int] = []
        total = 0
        for i, v in enumerate(rec.variants or []):
            total += max(1, int(v.get("weight") or 1))
            weights.append(total)
            variants.append(target(str(v["url"]), v.get("label") or f"#{i + 1}"))
        winner = (rec.ab_test or {}).get("winner")
        won = [t for t in variants if t.variant == winner] if winner else []
        if won:  # an A/B test picked this variant: every visit gets it from now on
            variants, weights = won[:1], [1]
        return cls(
            id=rec.id,
            workspace_id=rec.workspace_id,
            code=rec.code,
            password_hash=rec.password_hash,
            deleted=rec.deleted_at is not None,
            disabled=rec.disabled,
            starts_at=rec.starts_at,
            expires_at=rec.expires_at,
            max_clicks=rec.max_clicks,
            redirects=rec.redirects,
            default=target(rec.url),
            geo={k.upper(): target(u) for k, u in (rec.geo or {}).items()},
            devices={k: target(u) for k, u in (rec.devices or {}).items()},
            variants=tuple(variants),
            cumulative_weights=tuple(weights),
            preview=(
                (
                    str(rec.preview["title"]),
                    rec.preview.get("description"),
                    rec.preview.get("image"),
                )
                if rec.preview
                else None
            ),
            track_conversions=rec.track_conversions,
        )

    def unavailable(self, now: datetime) -> Reason | None:
        """Why this link does not redirect at `now`, or None when it does."""
        return unavailable_because(
            deleted=self.deleted,
            disabled=self.disabled,
            starts_at=self.starts_at,
            expires_at=self.expires_at,
            max_clicks=self.max_clicks,
            redirects=self.redirects,
            now=now,
        )

    def choose(self, country: str | None, device: tuple[str, ...], rng: random.Random) -> Target:
        """Geo rule, else device rule (`device`: the keys to try, platform first), else a
        variant by weight, else the link's url."""
        if country is not None and (hit := self.geo.get(country)) is not None:
            return hit
        if self.devices:
            for key in device:
                if (hit := self.devices.get(key)) is not None:
                    return hit
        if self.variants:
            pick = rng.random() * self.cumulative_weights[-1]
            return self.variants[bisect.bisect_right(self.cumulative_weights, pick)]
        return self.default


def _card(preview: dict[str, Any] | None) -> tuple[str, str | None, str | None] | None:
    if not preview:
        return None
    return str(preview["title"]), preview.get("description"), preview.get("image")


def merge_utm(url: str, utm: dict[str, str]) -> str:
    """`url` with the `utm_*` parameters set (see the module docstring for the rule)."""
    if not utm:
        return url
    rest, hash_mark, fragment = url.partition("#")
    base, question, query = rest.partition("?")
    pending = dict(utm)
    done: set[str] = set()
    parts: list[str] = []
    for part in query.split("&") if question else []:
        key = unquote(part.partition("=")[0].replace("+", " "))
        if key in done:
            continue  # a duplicate of a key the link sets
        if key in pending:
            parts.append(f"{key}={pending.pop(key)}")
            done.add(key)
        else:
            parts.append(part)
    parts.extend(f"{key}={value}" for key, value in pending.items())
    query = "&".join(p for p in parts if p)
    return f"{base}?{query}{hash_mark}{fragment}"


def to_location(url: str) -> str:
    """An ASCII URI for a `Location` header: IDN host in punycode, other non-ASCII escaped.

    Spaces and control characters, which destinations may not hold, are escaped too (CR, LF and
    tab dropped, as `urlsplit` does), so a stored row that got past validation cannot split the
    header."""
    if url.isascii() and url.isprintable() and " " not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    host = parts.hostname or ""
    if not host.isascii():
        netloc = netloc.replace(host, ascii_host(host), 1)
    path, query, fragment = (quote(p, safe=_URI_SAFE) for p in parts[2:])
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def ascii_host(host: str) -> str:
    """An internationalised host name in punycode (`bücher.de` -> `xn--bcher-kva.de`)."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return ".".join(
            label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
            for label in host.split(".")
        )


# --- lookups ------------------------------------------------------------------------------


Key = tuple[str, str]  # (domain id, "" for the server's own host; code)


class LinkCache:
    """Compiled links by domain and code, each kept for `ttl` seconds (0: always ask the store).

    A change to a link reaches redirects within `ttl`. Unknown codes are cached too, so a flood
    of made-up codes does not reach the database more than once a `ttl` each. One lookup per
    code runs at a time: while it does, others get the previous answer, or wait for the first.
    A lookup the store cannot answer (it is away) gets the last link read for the code, kept
    for the `max_size` codes resolved most recently; with none, the error goes on.
    """

    def __init__(
        self,
        store: Store,
        ttl: float = 0.0,
        max_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.max_size = max_size
        self.clock = clock
        self._entries: OrderedDict[Key, tuple[float, CompiledLink | None]] = OrderedDict()
        self._known: OrderedDict[Key, CompiledLink] = OrderedDict()  # last known good
        self._loading: dict[Key, anyio.Event] = {}
        self._domains: set[str] = {""}  # every domain seen, so `forget` reaches each
        self.served_stale = 0  # answers from `_known` while the store was away

    async def get(self, code: str, domain: str | None = None) -> CompiledLink | None:
        """The link with this code on `domain` (None: the server's own host), or None."""
        if not CODE_RE.match(code):
            return None
        key = (domain or "", code)
        self._domains.add(key[0])
        if self.ttl <= 0:
            try:
                return self._remember(key, await self._load(key))
            except UnavailableError as exc:
                return self._stale(key, exc)
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self.clock():
            return entry[1]
        loading = self._loading.get(key)
        if loading is not None:
            if entry is not None:
                return entry[1]  # being refreshed: the previous answer will do meanwhile
            await loading.wait()
            if (entry := self._entries.get(key)) is not None:
                return entry[1]
        return await self._refresh(key)

    async def _refresh(self, key: Key) -> CompiledLink | None:
        done = self._loading[key] = anyio.Event()
        try:
            started = self.clock()
            try:
                link = self._remember(key, await self._load(key))
            except UnavailableError as exc:
                return self._stale(key, exc)
            now = self.clock()
            # good for `ttl` from when the store was asked, so no answer outlives a change
            # by more than `ttl`, however long the lookup took
            self._entries[key] = (started + self.ttl, link)
            self._entries.move_to_end(key)
            # Oldest first: drop what expired a while ago (memory follows the codes in use,
            # not every code ever seen), and anything beyond max_size.
            while self._entries:
                expires, _ = next(iter(self._entries.values()))
                if expires >= now - self.ttl and len(self._entries) <= self.max_size:
                    break
                self._entries.popitem(last=False)
            return link
        finally:
            if self._loading.get(key) is done:
                del self._loading[key]
            done.set()

    async def _load(self, key: Key) -> CompiledLink | None:
        rec = await self.store.link_on_domain(key[0] or None, key[1])
        return CompiledLink.from_record(rec) if rec is not None else None

    def _remember(self, key: Key, link: CompiledLink | None) -> CompiledLink | None:
        if link is None:
            self._known.pop(key, None)
            return None
        self._known[key] = link
        self._known.move_to_end(key)
        if len(self._known) > self.max_size:
            self._known.popitem(last=False)
        return link

    def _stale(self, key: Key, exc: UnavailableError) -> CompiledLink | None:
        """The last link read for `key` while the store is away; else `exc` again."""
        if isinstance(exc, BusyError) or (link := self._known.get(key)) is None:
            raise exc
        self._known.move_to_end(key)
        self.served_stale += 1
        return link

    def expire(self, code: str, domain: str | None = None) -> None:
        """The next lookup of `code` on `domain` reads the store (the last known good copy
        stays)."""
        self._entries.pop((domain or "", code), None)

    def forget(self, code: str) -> None:
        """Drop what is known of `code` (a change here), on every domain: the next lookup reads
        the store."""
        for domain in self._domains:
            self._entries.pop((domain, code), None)
            self._known.pop((domain, code), None)


# --- outcomes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Redirect:
    link: CompiledLink
    target: Target
    click_id: str | None = None  # a link that tracks conversions: this visit's click id


def new_click_id() -> str:
    """An unguessable click id: 16 URL-safe characters (96 random bits)."""
    return secrets.token_urlsafe(12)


def with_param(location: str, name: str, value: str) -> str:
    """`location` with `name=value` appended to its query (before any fragment)."""
    rest, hash_mark, fragment = location.partition("#")
    joiner = "&" if "?" in rest else "?"
    if rest.endswith(("?", "&")):
        joiner = ""
    return f"{rest}{joiner}{name}={value}{hash_mark}{fragment}"


@dataclass(frozen=True, slots=True)
class NotFound:
    code: str


@dataclass(frozen=True, slots=True)
class Unavailable:
    link: CompiledLink
    reason: Reason


@dataclass(frozen=True, slots=True)
class Neutral:
    """A single-use or password link visited by an unfurler, assistant fetch or crawler: it
    gets a neutral page, spends no use and learns no destination."""

    link: CompiledLink


@dataclass(frozen=True, slots=True)
class Deferred:
    """A `max_clicks` link while its count cannot be taken (the store is away): no redirect,
    so the limit stays exact; try again later."""

    link: CompiledLink


@dataclass(frozen=True, slots=True)
class PasswordRequired:
    link: CompiledLink
    wrong: bool  # a password was given and it was not the right one


@dataclass(frozen=True, slots=True)
class Card:
    """A link unfurler visiting a link with a `preview`: it gets the link's own card page
    (never a click, never a use of `max_clicks`)."""

    link: CompiledLink


Outcome = Redirect | NotFound | Unavailable | PasswordRequired | Neutral | Card | Deferred


class Redirector:
    """Resolves a code for one visit; the only store write is the `max_clicks` count."""

    def __init__(
        self,
        store: Store,
        links: LinkCache,
        rng: random.Random | None = None,
        click_param: str = "clypt_cid",
    ) -> None:
        self.store = store
        self.links = links
        self.rng = rng or random.Random()
        self.click_param = click_param

    async def resolve(
        self,
        code: str,
        *,
        now: datetime,
        country: str | None,
        device: tuple[str, ...],
        password: str | None = None,
        count: bool = True,
        person: bool = True,
        domain: str | None = None,
        unfurler: bool = False,
    ) -> Outcome:
        """What a visit to `code` gets. Passwords are checked only when the link has one;
        `count=False` (HEAD) leaves the `max_clicks` counter alone. A visit that is not a
        person's (`person=False`: unfurler, assistant fetch, crawler) never spends `max_clicks`
        and never opens a password link: those links give it `Neutral`."""
        link = await self.links.get(code, domain)
        if link is None:
            return NotFound(code)
        if (reason := link.unavailable(now)) is not None:
            return Unavailable(link, reason)
        if unfurler and link.preview is not None:
            return Card(link)
        if not person and (link.max_clicks is not None or link.password_hash is not None):
            return Neutral(link)
        if link.password_hash is not None:
            if password is None:
                return PasswordRequired(link, wrong=False)
            if not await check_password(password, link.password_hash):
                return PasswordRequired(link, wrong=True)
        target = link.choose(country, device, self.rng)
        if count and link.max_clicks is not None:
            try:
                counted = await self.store.count_redirect(link.id, now)
            except UnavailableError:
                return Deferred(link)
            self.links.expire(code, domain)  # its `redirects` moved: read it again next time
            if not counted:
                return Unavailable(link, "click_limit")
        if link.track_conversions:  # a fresh click id for this visit, kept with its click
            click_id = new_click_id()
            location = with_param(target.location, self.click_param, click_id)
            return Redirect(link, Target(location, target.variant), click_id)
        return Redirect(link, target)


class UnknownHost(Exception):
    """A `Host` this server serves no links on."""


class HostCache:
    """Which domain a request's host name is, kept for `ttl` seconds like links: the id of a
    verified domain, None for the server's own host, UnknownHost for anything else (cached
    too, at most `max_size` names, so made-up hosts cost one lookup a `ttl` each)."""

    def __init__(
        self,
        lookup: Callable[[str], Awaitable[str | None]],
        ttl: float = 0.0,
        max_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lookup = lookup  # raises NotFoundError for a host not served
        self.ttl = ttl
        self.max_size = max_size
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, str | None, bool]] = OrderedDict()

    def forget(self, host: str) -> None:
        """A domain (`host`) started or stopped serving: forget every host, since the first
        verified domain also changes what unknown hosts get."""
        self._entries.clear()

    async def get(self, host: str) -> str | None:
        """The domain id of `host` (None: the server's own). Raises: UnknownHost."""
        entry = self._entries.get(host)
        now = self.clock()
        if entry is None or entry[0] <= now:
            try:
                domain, known = await self.lookup(host), True
            except NotFoundError:
                domain, known = None, False
            entry = (now + self.ttl, domain, known)
            if self.ttl > 0:
                self._entries[host] = entry
                self._entries.move_to_end(host)
                while len(self._entries) > self.max_size:
                    self._entries.popitem(last=False)
        if not entry[2]:
            raise UnknownHost(host)
        return entry[1]
