"""The Store protocol: what the core needs from storage, whatever the database."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from clypt_mcp.models import ClickEvent, LinkSort

if TYPE_CHECKING:
    from clypt_mcp.store.oauth import OAuthStore
    from clypt_mcp.store.team import TeamStore
    from clypt_mcp.store.web_sessions import WebSessions
    from clypt_mcp.store.webhooks import Webhooks


@dataclass
class LinkRecord:
    """A stored link, with its tag names and folder path resolved."""

    id: str
    workspace_id: str
    code: str
    url: str
    created_at: datetime
    updated_at: datetime
    title: str | None = None
    notes: str | None = None
    folder_id: str | None = None
    folder_path: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    starts_at: datetime | None = None
    expires_at: datetime | None = None
    max_clicks: int | None = None
    password_hash: str | None = None
    variants: list[dict[str, Any]] | None = None
    geo: dict[str, str] | None = None
    devices: dict[str, str] | None = None
    preview: dict[str, Any] | None = None
    disabled: bool = False
    clicks: int = 0
    redirects: int = 0
    last_clicked_at: datetime | None = None
    deleted_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    imported_clicks: int = 0
    domain_id: str | None = None  # None: the server's own host (CLYPT_BASE_URL's)
    domain_name: str | None = None  # the name of `domain_id`, when it has one


# Every column of `links`, in the order the stores select and copy them: how it is stored
# ("text", "int", "time": integer µs, "json": text, "flag": 0/1) and whether a caller may set it.
# Column lists and row codecs derive from this table (see `rows.py`).
LINK_FIELDS: dict[str, tuple[str, bool]] = {
    "id": ("text", False),
    "workspace_id": ("text", False),
    "code": ("text", True),
    "url": ("text", True),
    "title": ("text", True),
    "notes": ("text", True),
    "folder_id": ("text", True),
    "utm_source": ("text", True),
    "utm_medium": ("text", True),
    "utm_campaign": ("text", True),
    "utm_term": ("text", True),
    "utm_content": ("text", True),
    "starts_at": ("time", True),
    "expires_at": ("time", True),
    "max_clicks": ("int", True),
    "password_hash": ("text", True),
    "variants": ("json", True),
    "geo": ("json", True),
    "devices": ("json", True),
    "disabled": ("flag", True),
    "clicks": ("int", False),
    "redirects": ("int", False),
    "last_clicked_at": ("time", False),
    "created_at": ("time", False),
    "updated_at": ("time", False),
    "deleted_at": ("time", True),
    "imported_clicks": ("int", False),  # click totals an import brought (migration 0014)
    "domain_id": ("text", True),
    "preview": ("json", True),  # migration 0012
}

# Columns a caller may set on a link (everything but ids, counters and timestamps it owns).
LINK_COLUMNS = tuple(name for name, (_, settable) in LINK_FIELDS.items() if settable)


@dataclass
class LinkFilter:
    """Which links a listing or an analytics query covers."""

    workspace_id: str
    query: str | None = None
    tag: str | None = None
    folder_ids: list[str] | None = None
    status: str | None = None  # None: everything but deleted
    link_id: str | None = None
    by_domain: bool = False  # only the links of `domain_id` (None: the server's own host)
    domain_id: str | None = None


@dataclass
class DomainRecord:
    """A domain of a workspace: `name` in lower case (punycode), `token` the TXT value that
    proves it, `links` how many links (deleted ones too) are on it."""

    id: str
    workspace_id: str
    name: str
    token: str
    created_at: datetime
    is_default: bool = False
    verified_at: datetime | None = None
    links: int = 0


@dataclass
class ClickFilter:
    """Which raw clicks the click log reads: the clicks of `links` (a link id there names one
    link; tag, folders or query a set, deleted links included), with `start <= ts < end`
    (Unix seconds) and the exact values given."""

    links: LinkFilter
    start: int | None = None
    end: int | None = None
    country: str | None = None
    device: str | None = None
    traffic: str | None = None
    variant: str | None = None


LOG_COLUMNS = ("id", "ts", "code", "variant", "country", "city", "device", "browser", "os",
               "referrer", "traffic")  # fmt: skip


@dataclass
class LinkChange:
    """One link's part of a bulk update: columns to set (as `update_link` takes them), tags
    to replace (`tags`), add or remove by name, and a folder path to create and move to."""

    link_id: str
    changes: dict[str, Any]
    tags: list[str] | None = None
    add_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    folder_names: list[str] | None = None


@dataclass
class TagRecord:
    id: str
    name: str
    color: str | None
    created_at: datetime
    links: int = 0


@dataclass
class FolderRecord:
    id: str
    name: str
    parent_id: str | None
    created_at: datetime
    links: int = 0


@dataclass
class KeyRecord:
    id: str
    workspace_id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    allow_ips: list[str] | None = None


@dataclass(frozen=True)
class Limits:
    """A workspace's limits set by the operator (store/team.py); None = no limit."""

    links: int | None = None
    clicks_per_month: int | None = None
    api_calls_per_day: int | None = None


@dataclass
class WebhookRecord:
    """A webhook endpoint of a workspace (its secret is never part of it)."""

    id: str
    workspace_id: str
    url: str
    events: list[str]
    filter: dict[str, Any] | None
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    failing_since: datetime | None = None


@dataclass
class AttemptRecord:
    """One try at delivering an event to an endpoint."""

    id: int
    delivery_id: str
    event_id: str | None
    event_type: str | None
    at: datetime
    status: int | None  # the HTTP status; None when no answer came
    error: str | None
    duration_ms: int
    delivery_status: str | None = None  # pending | delivered | failed
    delivery_attempts: int | None = None


@dataclass
class OutgoingMessage:
    """A due delivery: the event to send (its data decoded: `link` is a LinkRecord for link
    events, `clicks` a list for `link.clicked`)."""

    delivery_id: str
    event_id: str
    event_type: str
    event_at: datetime
    data: dict[str, Any]
    attempts: int
    first_try_at: int | None  # µs of its first attempt


@dataclass
class ClickStats:
    """Counts for an analytics answer, before time zones and top-N `other` are applied."""

    total_clicks: int
    clicks_in_period: int
    unique_visitors: int
    buckets: list[tuple[int, int]]  # (UTC start of a `unit`-second bucket, clicks), by time
    breakdowns: dict[str, list[tuple[str, int]]]  # dimension -> top keys by clicks
    first_bucket: int | None = None  # the earliest bucket with clicks, when asked for
    traffic: list[tuple[str, int]] = field(default_factory=list)  # every class's visits
    variants: list[tuple[str, int, int]] = field(default_factory=list)  # (label, clicks, uniques)


DIMENSIONS = ("country", "device", "browser", "os", "referrer", "city")
# Rollup dimensions besides DIMENSIONS: '*' totals, 'uniques' first visits of a UTC day,
# 'link' (workspace level), 'traffic' (every class, bot rows included), and per link 'variant'
# (clicks per A/B label) and 'variant_uniques' (first visits per label and UTC day).
VISITOR_SECRET_BYTES = 32
GRAINS = (86400, 3600, 900)
SLOT = 900  # the finest rollup grain: analytics windows are whole quarter-hours


def cover(start: int, end: int, max_grain: int = 86400) -> list[tuple[int, int, int]]:
    """`(grain, lo, hi)` ranges that tile `[start, end)` exactly, the coarsest grains in the
    middle, so a query reads a number of rollup buckets that does not grow with the clicks.
    `start` and `end` are multiples of SLOT."""
    grains = [g for g in GRAINS if g <= max_grain]
    return _cover(start, end, grains)


def _cover(start: int, end: int, grains: list[int]) -> list[tuple[int, int, int]]:
    if start >= end:
        return []
    grain, rest = grains[0], grains[1:]
    if not rest:
        return [(grain, start, end)]
    lo = -(-start // grain) * grain
    hi = end // grain * grain
    if lo >= hi:
        return _cover(start, end, rest)
    return [*_cover(start, lo, rest), (grain, lo, hi), *_cover(hi, end, rest)]


def rollup_rows(events: list[ClickEvent]) -> dict[tuple[str, str, int, str, int, str, int], int]:
    """The rollup increments for a batch of clicks, keyed like the rollups table, without
    uniques (those need the store's memory of who was seen today)."""
    # Alike clicks (same link, quarter-hour, bot flag and dimension values) are counted first
    # and expanded once: a busy link's batch is mostly alike clicks, and expanding each one
    # (39 keys) cost the click writer more than its SQL. Every grain is a multiple of SLOT.
    groups: dict[tuple[str, str, int, int, tuple[str | None, ...]], int] = {}
    for e in events:
        slot = e.ts // SLOT * SLOT
        values = (
            e.country or "unknown",
            e.device or "other",
            e.browser or "unknown",
            e.os or "unknown",
            e.referrer or "unknown",
            e.city,  # no row without a city: installs without a City database write none
            e.traffic,
            e.variant,
        )
        group = (e.workspace_id, e.link_id, slot, int(e.bot), values)
        groups[group] = groups.get(group, 0) + 1
    out: dict[tuple[str, str, int, str, int, str, int], int] = {}
    for (ws, link_id, slot, bot, keys), n in groups.items():
        *dims, kind, variant = keys
        for grain in GRAINS:
            t = slot // grain * grain
            for link in ("", link_id):
                key = (ws, link, grain, "*", t, "", bot)
                out[key] = out.get(key, 0) + n
                for dim, value in zip(DIMENSIONS, dims, strict=True):
                    if value is not None:
                        key = (ws, link, grain, dim, t, value, bot)
                        out[key] = out.get(key, 0) + n
                key = (ws, link, grain, "traffic", t, kind or "human", bot)
                out[key] = out.get(key, 0) + n
            key = (ws, "", grain, "link", t, link_id, bot)
            out[key] = out.get(key, 0) + n
            if variant is not None:
                key = (ws, link_id, grain, "variant", t, variant, bot)
                out[key] = out.get(key, 0) + n
    return out


def link_counts(events: list[ClickEvent]) -> list[tuple[str, int, int]]:
    """`(link id, human clicks, latest click in µs)` per link of a batch, in id order (the
    order both stores update link rows in)."""
    counts: dict[str, tuple[int, datetime]] = {}
    for e in events:
        n, last = counts.get(e.link_id, (0, e.at))
        counts[e.link_id] = (n + (0 if e.bot else 1), max(last, e.at))
    return [(link_id, n, to_us(last) or 0) for link_id, (n, last) in sorted(counts.items())]


VARIANT_MARK = "|"  # visitor_days link_id `<link id>|<variant label>`: a visitor of a variant


def first_visit_times(events: list[ClickEvent]) -> dict[tuple[str, str, int, str], int]:
    """`(workspace, link or "" or "link|variant", UTC day, visitor) -> earliest click second`
    for the human clicks of a batch: the candidates each store checks against who it saw that
    day (visitor marks, kept as long as the link: uniques of any set of links are counted
    from them)."""
    firsts: dict[tuple[str, str, int, str], int] = {}
    for e in events:
        if e.bot or not e.visitor:
            continue
        ts = e.ts
        day = ts // 86400 * 86400
        links = ["", e.link_id]
        if e.variant is not None:
            links.append(f"{e.link_id}{VARIANT_MARK}{e.variant}")
        for link in links:
            key = (e.workspace_id, link, day, e.visitor)
            if key not in firsts or ts < firsts[key]:
                firsts[key] = ts
    return firsts


def first_visit_buckets(
    firsts: dict[tuple[str, str, int, str], int], new: list[tuple[str, str, int, str]]
) -> dict[tuple[str, str, int, str, int, str, int], int]:
    """The 'uniques' (and per variant 'variant_uniques') rollup increments of the marks that
    were new, in the buckets of the first visit."""
    out: dict[tuple[str, str, int, str, int, str, int], int] = {}
    for mark in new:
        ws, link, _day, _visitor = mark
        ts = firsts[mark]
        link, _, variant = link.partition(VARIANT_MARK)
        dim = "variant_uniques" if variant else "uniques"
        for grain in GRAINS:
            bucket = (ws, link, grain, dim, ts // grain * grain, variant, 0)
            out[bucket] = out.get(bucket, 0) + 1
    return out


DAY = 86400
# Rollup dimensions whose keys visitors choose (Referer host, browser and OS names, city): each
# bucket keeps its ROLLUP_KEYS biggest keys and folds the rest into `other` (housekeeping), so
# a flood of made-up Referers or agents cannot grow the rollups without end.
VISITOR_DIMS = ("referrer", "browser", "os", "city")
ROLLUP_KEYS = 100


def capped_rollups_sql(param: str) -> str:
    """The rollup rows (since `param`, a placeholder for the oldest bucket start) beyond their
    bucket's ROLLUP_KEYS biggest keys, for `cap_rollups`; the same SQL in both dialects."""
    dims = ", ".join(f"'{d}'" for d in VISITOR_DIMS)
    return f"""SELECT workspace_id, link_id, grain, dim, t, key, bot, clicks FROM (
                 SELECT r.*, ROW_NUMBER() OVER (
                     PARTITION BY workspace_id, link_id, grain, dim, t, bot
                     ORDER BY clicks DESC, key) AS rank
                   FROM rollups r WHERE dim IN ({dims}) AND t >= {param} AND key <> 'other'
               ) AS ranked WHERE rank > {ROLLUP_KEYS}"""


UNIQUE_DAYS_SETTLE = 300  # a UTC day's uniques are cached once it ended this long ago


def set_key(members_sql: str, args: dict[str, Any]) -> str:
    """A name for the set of links a query selects: the SQL and its arguments, hashed."""
    text = members_sql + "\0" + repr(sorted((k, repr(v)) for k, v in args.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def unique_day_plan(
    start: int, end: int, now: int
) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """How to count a set's unique visitors over `[start, end)`: `(settled, open, partial)` -
    whole UTC days that ended UNIQUE_DAYS_SETTLE ago (cacheable), other whole days, and
    `(lo, hi)` parts of a day at either edge of the window."""
    settled: list[int] = []
    fresh: list[int] = []
    partial: list[tuple[int, int]] = []
    first = -(-start // DAY) * DAY
    if first >= end:
        return settled, fresh, [(start, end)]
    if start < first:
        partial.append((start, first))
    day = first
    while day + DAY <= end:
        (settled if day + DAY <= now - UNIQUE_DAYS_SETTLE else fresh).append(day)
        day += DAY
    if day < end:
        partial.append((day, end))
    return settled, fresh, partial


# Every table a store copy moves, in an order that satisfies foreign keys (folders also need
# parents before children), with its columns and its key (what `dump_table` pages by).
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "workspaces": (("id", "created_at"), ("id",)),
    "folders": (("id", "workspace_id", "parent_id", "name", "created_at"), ("id",)),
    "tags": (("id", "workspace_id", "name", "color", "created_at"), ("id",)),
    "domains": (
        ("id", "workspace_id", "name", "token", "is_default", "created_at", "verified_at"),
        ("id",),
    ),
    "links": (tuple(LINK_FIELDS), ("id",)),
    "link_tags": (("link_id", "tag_id"), ("link_id", "tag_id")),
    "clicks": (
        (
            "id",
            "workspace_id",
            "link_id",
            "ts",
            "variant",
            "country",
            "device",
            "browser",
            "os",
            "referrer",
            "visitor",
            "bot",
            "traffic",
            "city",
        ),
        ("id",),
    ),
    "rollups": (
        ("workspace_id", "link_id", "grain", "dim", "t", "key", "bot", "clicks"),
        ("workspace_id", "link_id", "grain", "dim", "t", "key", "bot"),
    ),
    "visitor_days": (
        ("workspace_id", "link_id", "day", "visitor", "first_ts"),
        ("workspace_id", "link_id", "day", "visitor"),
    ),
    "api_keys": (
        (
            "id",
            "workspace_id",
            "name",
            "prefix",
            "hash",
            "scopes",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "allow_ips",
        ),
        ("id",),
    ),
    "idempotency": (
        ("workspace_id", "key", "request_hash", "response", "created_at"),
        ("workspace_id", "key"),
    ),
    # OAuth (migration 0007, store/oauth.py): secrets are hashes, so a copy carries them over.
    "oauth_clients": (("client_id", "info", "kind", "created_at", "fetched_at"), ("client_id",)),
    "oauth_requests": (("hash", "client_id", "params", "expires_at"), ("hash",)),
    "oauth_grants": (
        (
            "id",
            "workspace_id",
            "client_id",
            "client_name",
            "redirect_host",
            "scopes",
            "key_id",
            "created_at",
            "last_used_at",
            "revoked_at",
        ),
        ("id",),
    ),
    "oauth_tokens": (
        (
            "hash",
            "kind",
            "grant_id",
            "family",
            "client_id",
            "scopes",
            "resource",
            "data",
            "created_at",
            "expires_at",
            "used_at",
            "revoked_at",
        ),
        ("hash",),
    ),
    "signin_links": (
        ("hash", "workspace_id", "scopes", "created_at", "expires_at", "used_at"),
        ("hash",),
    ),
    # Jobs and export files (migration 0014, store/jobs.py): they outlive a copy as a restart.
    "jobs": (
        (
            "id",
            "workspace_id",
            "kind",
            "status",
            "done",
            "total",
            "params",
            "result",
            "error",
            "created_at",
            "heartbeat_at",
            "expires_at",
        ),
        ("id",),
    ),
    "export_parts": (("job_id", "seq", "data"), ("job_id", "seq")),
    # Webhooks (migration 0009, store/webhooks.py): endpoints with their secrets, the outbox,
    # the attempts; a lease copied from another store lapses within 30 s.
    "webhook_endpoints": (
        (
            "id",
            "workspace_id",
            "url",
            "events",
            "filter",
            "secret",
            "enabled",
            "disabled_reason",
            "failing_since",
            "lease_owner",
            "lease_until",
            "created_at",
            "updated_at",
        ),
        ("id",),
    ),
    "webhook_events": (("id", "workspace_id", "type", "created_at", "data"), ("id",)),
    "webhook_deliveries": (
        (
            "seq",
            "id",
            "endpoint_id",
            "event_id",
            "status",
            "attempts",
            "next_at",
            "first_try_at",
            "last_status",
            "last_error",
            "created_at",
            "done_at",
        ),
        ("seq",),
    ),
    "webhook_attempts": (
        ("id", "delivery_id", "endpoint_id", "at", "status", "error", "duration_ms"),
        ("id",),
    ),
    "webhook_state": (("name", "value"), ("name",)),
    # A team server (migration 0012, store/team.py).
    "workspace_limits": (
        ("workspace_id", "max_links", "clicks_per_month", "api_calls_per_day", "updated_at"),
        ("workspace_id",),
    ),
    "usage_counts": (
        ("workspace_id", "metric", "period", "count"),
        ("workspace_id", "metric", "period"),
    ),
    "guest_links": (("link_id", "client", "created_at", "expires_at"), ("link_id",)),
    # Click ids replayed from a spool (migration 0010, core/spool.py).
    "spooled_clicks": (("id", "at"), ("id",)),
}
# Tables whose key a PostgreSQL identity generates: after a copy, new rows continue after it.
IDENTITY_COLUMNS = {"clicks": "id", "webhook_deliveries": "seq", "webhook_attempts": "id"}


def table_spec(table: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`(columns, key columns)` of a table; ValueError for a name outside TABLES."""
    if table not in TABLES:
        raise ValueError(f"not a Clypt table: {table!r}")
    return TABLES[table]


def row_key(table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The key of a `dump_table` row, to pass as `after` for the next page."""
    columns, key = table_spec(table)
    return tuple(row[columns.index(k)] for k in key)


# The Store, by aggregate: a feature with tables of its own adds a small protocol here and one
# implementation module beside `links.py` (run on both databases through `sql.py`).


class LinkStore(Protocol):
    """Links, with their tags and folder placed in the same transaction."""

    async def insert_link(
        self,
        record: LinkRecord,
        tags: list[str],
        idempotency: tuple[str, str, str] | None = None,
        folder_names: list[str] | None = None,
    ) -> None:
        """Insert a link with its tags (created when unknown), its folder path (created when
        missing; sets `folder_id`) and, optionally, an idempotency row
        `(key, request_hash, response)`, all in one transaction.

        Raises: CodeTakenError; ConflictError when the idempotency key already exists.
        """

    async def get_link(
        self, workspace_id: str | None, *, link_id: str | None = None, code: str | None = None
    ) -> LinkRecord | None:
        """A link by id or code; `workspace_id=None` looks across workspaces (redirects)."""

    async def update_link(
        self,
        workspace_id: str,
        link_id: str,
        changes: dict[str, Any],
        tags: list[str] | None,
        folder_names: list[str] | None = None,
    ) -> None:
        """Set columns of LINK_COLUMNS (and `updated_at`); replace tags when given; move to the
        folder path `folder_names` (created when missing), all in one transaction.

        Raises: CodeTakenError.
        """

    async def delete_link(self, workspace_id: str, link_id: str) -> bool: ...
    async def update_links(self, workspace_id: str, items: list[LinkChange]) -> None:
        """Each change as `update_link` makes it, all in one transaction."""

    async def delete_links(self, workspace_id: str, link_ids: list[str]) -> list[bool]:
        """Each link deleted for good as `delete_link` does, all in one transaction."""

    async def list_links(
        self,
        flt: LinkFilter,
        sort: LinkSort,
        limit: int,
        after: tuple[Any, str] | None,
        now: datetime,
    ) -> tuple[list[LinkRecord], int]:
        """One page of links after the keyset `(sort value, id)`, and the total matching."""

    async def count_redirect(self, link_id: str, now: datetime) -> bool:
        """Count one redirect; False when the link's `max_clicks` is already reached."""


class OrganiseStore(Protocol):
    """Tags and folders."""

    async def list_tags(self, workspace_id: str) -> list[TagRecord]: ...
    async def create_tag(self, workspace_id: str, record: TagRecord) -> None:
        """Raises: TagTakenError."""

    async def update_tag(
        self, workspace_id: str, tag_id: str, name: str, color: str | None
    ) -> None:
        """Raises: TagTakenError."""

    async def delete_tag(self, workspace_id: str, tag_id: str) -> bool: ...
    async def list_folders(self, workspace_id: str) -> list[FolderRecord]: ...
    async def create_folder(self, workspace_id: str, record: FolderRecord) -> None:
        """Raises: ConflictError when the parent already holds that name."""

    async def ensure_folder_path(self, workspace_id: str, names: list[str], now: datetime) -> str:
        """The id of the folder at `names` (from the root), creating missing ones."""

    async def update_folder(
        self, workspace_id: str, folder_id: str, name: str, parent_id: str | None
    ) -> None:
        """Raises: ConflictError when the target parent already holds that name."""

    async def delete_folder(self, workspace_id: str, folder_id: str) -> bool:
        """Delete a folder, moving its links and subfolders to its parent."""


class ClickStore(Protocol):
    """Raw clicks, their rollups, and the analytics read from them."""

    async def record_clicks(self, events: list[ClickEvent]) -> None: ...
    async def record_spooled(
        self, items: list[tuple[str, ClickEvent]], now: int, keep_seconds: int
    ) -> int:
        """Record the spooled `(click id, click)` pairs whose ids were never recorded (each id
        once, ever); ids older than `keep_seconds` before `now` are forgotten. How many were new."""

    async def click_page(
        self,
        workspace_id: str,
        link_id: str | None,
        since: int | None,
        after: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Raw clicks with `id > after` in id order (keys: id, ts, code, variant, country,
        device, browser, os, referrer, visitor, bot), for export."""

    async def count_clicks(
        self, workspace_id: str, link_id: str | None, since: int | None
    ) -> int: ...

    async def click_log(
        self, flt: ClickFilter, before: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        """At most `limit` clicks that `flt` selects, newest first (by `ts`, then `id`), those
        before the `(ts, id)` of `before` when given; keys are `LOG_COLUMNS` (never an address
        or a visitor hash)."""

    async def count_log(self, flt: ClickFilter) -> int:
        """How many clicks `flt` selects (what an export of the click log writes)."""
        ...

    async def purge_clicks(self, before: int, limit: int) -> int:
        """Delete at most `limit` raw clicks older than `before` (Unix seconds), in every
        workspace; the number deleted. Rollups, visitor marks and link counters stay, so
        analytics and totals do not change: only exports see less."""
        ...

    async def cap_rollups(self, since: int) -> int:
        """Fold the rollup keys of VISITOR_DIMS beyond each bucket's ROLLUP_KEYS biggest
        into `other`, for buckets starting at `since` or later; the rows folded."""
        ...

    async def click_stats(
        self,
        flt: LinkFilter,
        start: int,
        end: int,
        include_bots: bool,
        top: int,
        unit: int = SLOT,
        want_first: bool = False,
    ) -> ClickStats:
        """Counts over `[start, end)` (epoch seconds, multiples of SLOT) from the rollups;
        the time series in `unit`-second buckets (SLOT or 3600)."""


class KeyStore(Protocol):
    """API keys (hashed) and the install's secrets."""

    async def insert_key(self, record: KeyRecord, key_hash: str, max_active: int) -> bool:
        """Insert a key; False when the workspace already has `max_active` active keys."""

    async def list_keys(self, workspace_id: str | None) -> list[KeyRecord]: ...
    async def find_key(self, key_hash: str) -> KeyRecord | None: ...
    async def revoke_key(self, workspace_id: str | None, key_id: str, now: datetime) -> bool: ...
    async def touch_key(self, key_id: str, now: datetime) -> None: ...

    async def visitor_secret(self) -> bytes:
        """The install's visitor-hash secret (VISITOR_SECRET_BYTES random bytes), made on
        first use. Processes that ask at once get the same one: the first insert wins and every
        caller reads back what is stored. Never log it, never return it to a client."""

    async def set_visitor_secret(self, secret: bytes) -> None:
        """Replace the visitor-hash secret (`db copy` carries the source's over, so visitors
        keep their hashes and today's unique counts go on)."""
        ...


class GuardStore(Protocol):
    """Idempotency keys and request counters: state every process on the store shares."""

    async def get_idempotent(self, workspace_id: str, key: str) -> tuple[str, str] | None:
        """`(request_hash, response)` stored under an idempotency key."""

    async def put_idempotent(
        self, workspace_id: str, key: str, request_hash: str, response: str, now: datetime
    ) -> bool:
        """Store a response; False when the key already exists."""

    async def purge_idempotency(self, before: int, limit: int) -> int:
        """Delete at most `limit` remembered idempotency keys (MCP and REST) stored before
        `before` (Unix µs); the number deleted."""
        ...

    async def count_request(self, key: str, window_start: int, limit: int) -> int | None:
        """Count one request of `key` (an API key id or a workspace id, never a key) in the
        fixed window that starts at `window_start` (epoch seconds): the window's count with this
        request, or None when `limit` requests were already counted there (this one is not).
        Atomic across processes; a key's older windows are deleted when its next one starts."""

    async def request_count(self, key: str, window_start: int) -> int:
        """What `count_request` has counted for `key` in that window (0 when nothing); reads
        only."""
        ...

    async def purge_request_counts(self, before: int) -> int:
        """Delete the request counters of windows that started before `before` (Unix seconds);
        the number deleted."""
        ...


class AdminStore(Protocol):
    """The store as a whole: lifecycle, workspaces, status, copies between stores."""

    async def open(self) -> None:
        """Connect and apply pending migrations."""

    async def close(self) -> None: ...
    async def ensure_workspace(self, workspace_id: str, now: datetime) -> None: ...
    async def count_links(self) -> int: ...
    async def links_with_codes(self, codes: list[str]) -> list[tuple[str, str]]:
        """`(workspace, code)` of the links not deleted whose code is one of `codes` (lower
        case) in any letter case, by workspace and code."""
        ...

    async def schema_version(self) -> int:
        """The newest migration applied."""

    async def count_rows(self, table: str) -> int:
        """Rows in one of TABLES."""

    async def dump_table(
        self, table: str, after: tuple[Any, ...] | None, limit: int
    ) -> list[tuple[Any, ...]]:
        """Up to `limit` rows of one of TABLES, as stored (times in integer microseconds, JSON
        as text, flags as 0/1), its columns in TABLES order, after the key `after` in key
        order."""

    async def load_rows(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows shaped like `dump_table`'s, as they are (ids and counters kept).

        Raises: ConflictError when a row's key is already there.
        """

    async def clear_all(self) -> None:
        """Delete every row of every table (the schema stays)."""


JOB_FINISHED = ("done", "failed", "cancelled")


@dataclass
class JobRow:
    """A job as stored (`jobs`, migration 0014); times in integer microseconds."""

    id: str
    workspace_id: str
    kind: str  # export_links, export_clicks or import_links
    status: str  # queued, running, done, failed or cancelled
    done: int
    total: int | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: int
    heartbeat_at: int
    expires_at: int


class JobStore(Protocol):
    """Exports' and imports' jobs and the files exports write (`store.jobs`, jobs.py). A
    write that moves a job names the status it expects, so a cancel that lands first wins."""

    async def create(self, row: JobRow) -> None: ...
    async def get(self, workspace_id: str, job_id: str) -> JobRow | None: ...
    async def get_any(self, job_id: str) -> JobRow | None: ...
    async def page(
        self, workspace_id: str, kinds: list[str], before: tuple[int, str] | None, limit: int
    ) -> list[JobRow]:
        """Jobs of `kinds`, newest first, after the keyset `(created_at, id)` of `before`."""
        ...

    async def start(self, job_id: str, now: int) -> bool:
        """queued -> running; False when it is no longer queued."""
        ...

    async def progress(self, job_id: str, done: int, total: int | None, now: int) -> bool:
        """Progress and a heartbeat; False when the job is no longer running."""
        ...

    async def finish(
        self,
        job_id: str,
        status: str,
        now: int,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        expires_at: int | None = None,
    ) -> bool:
        """queued or running -> `status`; False when it had already finished."""
        ...

    async def cancel(self, workspace_id: str, job_id: str, now: int) -> bool:
        """queued or running -> cancelled, its file deleted; False when already finished."""
        ...

    async def cancel_any(self, job_id: str, now: int) -> None: ...
    async def give_up_lost(self, stale_before: int, now: int) -> int:
        """Mark failed the queued or running jobs without a heartbeat since `stale_before`."""
        ...

    async def add_part(self, job_id: str, seq: int, data: str) -> None: ...
    async def parts(self, job_id: str) -> list[str]: ...
    async def purge(self, now: int) -> int:
        """Delete expired jobs and their files; the number deleted."""
        ...


class FeatureStores(Protocol):
    """Aggregates reached as attributes, each a class of its own over the same seam: OAuth's
    clients, grants and tokens (`store/oauth.py`), dashboard sessions (`web_sessions.py`),
    webhook endpoints with their outbox (`webhooks.py`) and exports' and imports' jobs
    (`jobs.py`)."""

    @property
    def oauth(self) -> OAuthStore: ...
    @property
    def web_sessions(self) -> WebSessions: ...
    @property
    def webhooks(self) -> Webhooks: ...
    @property
    def jobs(self) -> JobStore: ...
    @property
    def team(self) -> TeamStore: ...


class DomainStore(Protocol):
    """Domains of workspaces (store/domains.py), and links looked up by domain and code."""

    async def list_domains(self, workspace_id: str) -> list[DomainRecord]:
        """The workspace's domains by name, each with its number of links."""

    async def get_domain(
        self, workspace_id: str | None, *, domain_id: str | None = None, name: str | None = None
    ) -> DomainRecord | None:
        """One domain by id or by name, or the workspace's default when neither is given; by
        name across workspaces (`workspace_id=None`), the verified one."""

    async def insert_domain(self, record: DomainRecord) -> None:
        """Raises: ConflictError when the workspace has that name already, or (inserting it
        verified) another workspace has it verified."""

    async def verify_domain(self, workspace_id: str, domain_id: str, now: datetime) -> None:
        """Mark a domain verified. Raises: ConflictError when another workspace verified the
        same name first."""

    async def set_default_domain(self, workspace_id: str, domain_id: str | None) -> None:
        """Make `domain_id` the workspace's default (None: the server's own host)."""

    async def delete_domain(self, workspace_id: str, domain_id: str) -> int:
        """Delete a domain no link uses: 0 when deleted, else the number of links on it (the
        domain stays)."""

    async def link_on_domain(self, domain_id: str | None, code: str) -> LinkRecord | None:
        """The link with `code` on a domain (None: the server's own host), in any workspace."""

    async def links_with_code(self, workspace_id: str, code: str) -> list[LinkRecord]:
        """The workspace's links with `code`, on whichever domains (the server's own first)."""

    async def any_verified_domain(self) -> bool:
        """Whether any workspace has a verified domain."""


class Store(
    LinkStore,
    OrganiseStore,
    ClickStore,
    KeyStore,
    GuardStore,
    AdminStore,
    DomainStore,
    FeatureStores,
    Protocol,
):
    """Async storage for one Clypt installation. Uniqueness lives in the database.

    Raises (any method): UnavailableError when the database stays busy or unreachable.
    """


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(value: datetime | None) -> int | None:
    """A datetime as exact integer microseconds since the epoch (naive counts as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // _US


def from_us(value: int | None) -> datetime | None:
    """The UTC datetime of integer microseconds since the epoch."""
    if value is None:
        return None
    return EPOCH + timedelta(microseconds=value)


def folder_path(folder_id: str, parents: dict[str, tuple[str | None, str]]) -> str:
    """The 'A/B/C' path of a folder, given `id -> (parent_id, name)`."""
    names: list[str] = []
    current: str | None = folder_id
    while current is not None and current in parents and len(names) < 64:
        parent, name = parents[current]
        names.append(name)
        current = parent
    return "/".join(reversed(names))
