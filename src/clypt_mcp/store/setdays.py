"""The per-set day cache (`set_days`, migration 0015).

A set of links that is neither one link nor the whole workspace (a folder with its subfolders,
a tag, a search) has no rollups of its own: its analytics add up the rollup rows of each of its
links, links × days × keys of them. For every whole UTC day that is over, the cache keeps what
those rows add up to, per dimension, key and bot flag (`CACHED_DIMS`, plus `link`: the clicks of
each member link), and the set's exact unique visitors of the day (`uniques`: the distinct
visitors over the marks of its links), so a set's query reads about as many rows a day as the
whole workspace's.

A day is cached whole or not at all: a fill writes every row of the days it takes in one
transaction, ending with one marker row per day (dim `''`, `n` the fill's stamp, its time in
microseconds), and the triggers of migration 0015 forget a day (any change to its click
rollups or visitor marks) or a whole workspace (any change to which links a set holds) in one
statement. Readers take the days whose marker they saw from the cache and every other day from
the rollups, and check the markers again at the end: a stamp that changed means the day was
forgotten (and maybe filled again) while they read, and the query is answered again without
the cache. Today, and yesterday until `UNIQUE_DAYS_SETTLE` seconds after it ended, are never
cached.

Other per-set totals fit the same table: a source is one more `INSERT … SELECT` in `fill` that
sums a per-link rollup table of whole days into `(dim, day, key, bot, n)` rows under dims of its
own, plus a trigger that forgets a day of the workspace when that table's rows of the day
change (as migration 0015 does for `rollups`). The conversion figures (`CONV`, migration 0017)
are one: a day's conversions are cached with its clicks, and forgotten with them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from clypt_mcp.errors import ClyptError
from clypt_mcp.store.base import DAY, DIMENSIONS, unique_day_plan
from clypt_mcp.store.sql import Db, Q

log = logging.getLogger(__name__)
T = TypeVar("T")

# Dimensions summed per (day, key, bot) from the member links' day rollups.
CACHED_DIMS = (*DIMENSIONS, "*", "traffic")
LINK_DIM = "link"  # per member link (key: its id), from its '*' rows
UNIQUES = "uniques"  # distinct visitors of the set on the day (bot 0, key '')
MARKER = ""  # one per cached day; n is the stamp of the fill that wrote it

# Conversion figures (migration 0017), summed from the member links' day rows of
# `conversion_rollups` (bot always 0): per event and currency (key `CURRENCY:EVENT`, the
# currency '' or three letters, so the first ':' splits them) the conversions (`CONV_TOTAL`)
# and their value (`CONV_VALUE`); per breakdown key (`CONV + dim`); per member link (key: its
# id, `CONV_LINK`).
CONV = "conv:"
CONV_TOTAL = CONV + "*"
CONV_VALUE = CONV + "$"
CONV_LINK = CONV + "link"
CONV_DIMS = ("country", "device", "referrer", "variant")


@dataclass(frozen=True)
class Known:
    """What a reader saw of a set's days in one statement: the stamp of each cached day and
    the unique visitors cached for it (a cached day with no `uniques` row had none)."""

    stamps: dict[int, int]
    uniques: dict[int, int]


NOTHING = Known({}, {})


class SetDays:
    """The cached days of one set of links over the whole UTC days of one query window."""

    def __init__(
        self,
        workspace_id: str,
        set_key: str,
        members: str,
        args: dict[str, Any],
        span: tuple[int, int],
        now: int,
    ) -> None:
        self.members = members  # SQL selecting the set's link ids (`l.id`) with `args`
        self.args = {**args, "_ws": workspace_id, "_k": set_key}
        settled, fresh, _ = unique_day_plan(span[0], span[1], now)
        self.settled = settled  # whole days that may be cached
        self.days = sorted(settled + fresh)  # every whole day of the window

    def where(self, include_bots: bool) -> str:
        """The `set_days s` rows of this set (and of human clicks only, unless `include_bots`)."""
        where = "s.workspace_id = :_ws AND s.set_key = :_k"
        return where if include_bots else where + " AND s.bot = 0"

    def read(self, q: Q) -> Known:
        """The markers and unique visitors of the window's cached days, in one statement."""
        if not self.days:
            return NOTHING
        rows = q.all(
            "SELECT s.dim, s.day, s.n FROM set_days s WHERE s.workspace_id = :_ws "
            f"AND s.set_key = :_k AND s.dim IN ('{MARKER}', '{UNIQUES}') "
            "AND s.day >= :_d0 AND s.day <= :_d1",
            {**self.args, "_d0": self.days[0], "_d1": self.days[-1]},
        )
        stamps: dict[int, int] = {}
        uniques: dict[int, int] = {}
        for dim, day, n in rows:
            (stamps if dim == MARKER else uniques)[int(day)] = int(n)
        return Known(stamps, {d: n for d, n in uniques.items() if d in stamps})

    def missing(self, known: Known) -> bool:
        """Whether a day that may be cached is not."""
        return any(d not in known.stamps for d in self.settled)

    def still(self, q: Q, known: Known) -> bool:
        """Whether every day `known` took from the cache is still cached by the same fill."""
        if not known.stamps:
            return True
        now = self.read(q).stamps
        return all(now.get(d) == stamp for d, stamp in known.stamps.items())

    def split(self, ranges: list[tuple[int, int, int]], known: Known) -> list[tuple[int, int, int]]:
        """`ranges` (grain, lo, hi) with each run of cached whole days inside a day range as
        `(0, lo, hi)`: read from the cache instead of the member links' rollups."""
        out: list[tuple[int, int, int]] = []
        for grain, lo, hi in ranges:
            if grain != DAY:
                out.append((grain, lo, hi))
                continue
            for cached, a, b in _runs(lo, hi, known.stamps):
                out.append((0 if cached else DAY, a, b))
        return out

    def open_days(self, known: Known) -> list[tuple[int, int]]:
        """`[lo, hi)` runs of the window's whole days that are not cached."""
        if not self.days:
            return []
        return [
            (a, b)
            for cached, a, b in _runs(self.days[0], self.days[-1] + DAY, known.stamps)
            if not cached
        ]

    def fill(self, q: Q) -> int:
        """Cache the window's settled days that are not cached yet, in the caller's write
        transaction; the number of days written (none when another writer of the workspace
        holds its lock: the query then reads those days from the rollups)."""
        if not self.settled or not q.scalar(q.d.set_fill_lock, {"ws": self.args["_ws"]}):
            return 0
        have = self.read(q).stamps
        todo = [d for d in self.settled if d not in have]
        if not todo:
            return 0
        dims = ", ".join(f"'{d}'" for d in CACHED_DIMS)
        insert = "INSERT INTO set_days (workspace_id, set_key, dim, day, key, bot, n) "
        for _, lo, hi in (r for r in _runs(todo[0], todo[-1] + DAY, have) if not r[0]):
            args = {**self.args, "_lo": lo, "_hi": hi}
            q.run(
                insert + "SELECT :_ws, :_k, r.dim, r.t, r.key, r.bot, SUM(r.clicks) "
                f"FROM rollups r WHERE r.workspace_id = :_ws AND r.link_id IN ({self.members}) "
                f"AND r.grain = {DAY} AND r.dim IN ({dims}) AND r.t >= :_lo AND r.t < :_hi "
                "GROUP BY r.dim, r.t, r.key, r.bot",
                args,
            )
            q.run(
                insert + f"SELECT :_ws, :_k, '{LINK_DIM}', r.t, r.link_id, r.bot, SUM(r.clicks) "
                f"FROM rollups r WHERE r.workspace_id = :_ws AND r.link_id IN ({self.members}) "
                f"AND r.grain = {DAY} AND r.dim = '*' AND r.t >= :_lo AND r.t < :_hi "
                "GROUP BY r.t, r.link_id, r.bot",
                args,
            )
            _fill_conversions(q, insert, self.members, args)
            q.run(
                insert + f"SELECT :_ws, :_k, '{UNIQUES}', v.day, '', 0, COUNT(DISTINCT v.visitor) "
                "FROM visitor_days v WHERE v.workspace_id = :_ws "
                f"AND v.link_id IN ({self.members}) AND v.day >= :_lo AND v.day < :_hi "
                "GROUP BY v.day",
                args,
            )
        stamp = time.time_ns() // 1000
        q.many(
            insert + f"VALUES (?, ?, '{MARKER}', ?, '', 0, ?)",
            [(self.args["_ws"], self.args["_k"], d, stamp) for d in todo],
        )
        return len(todo)


def _fill_conversions(q: Q, insert: str, members: str, args: dict[str, Any]) -> None:
    """The conversion figures of the days `[_lo, _hi)` (see `CONV`)."""
    rows = (
        "FROM conversion_rollups r WHERE r.workspace_id = :_ws "
        f"AND r.link_id IN ({members}) AND r.grain = {DAY} AND r.t >= :_lo AND r.t < :_hi"
    )
    pair = "r.currency || ':' || r.event"
    for dim, total in ((CONV_TOTAL, "conversions"), (CONV_VALUE, "revenue")):
        q.run(
            insert + f"SELECT :_ws, :_k, '{dim}', r.t, {pair}, 0, SUM(r.{total}) "
            f"{rows} AND r.dim = '*' GROUP BY r.t, r.currency, r.event",
            args,
        )
    dims = ", ".join(f"'{d}'" for d in CONV_DIMS)
    q.run(
        insert + f"SELECT :_ws, :_k, '{CONV}' || r.dim, r.t, r.key, 0, SUM(r.conversions) "
        f"{rows} AND r.dim IN ({dims}) GROUP BY r.dim, r.t, r.key",
        args,
    )
    q.run(
        insert + f"SELECT :_ws, :_k, '{CONV_LINK}', r.t, r.link_id, 0, SUM(r.conversions) "
        f"{rows} AND r.dim = '*' GROUP BY r.t, r.link_id",
        args,
    )


async def read_through(db: Db, days: SetDays | None, stats: Callable[[Q, Known], T]) -> T:
    """`stats` over a set's cached days (with `days` None, over none): when a day is missing,
    fill the cache first (a cache: a read-only or busy store answers without it); when a day
    it read was forgotten or filled again meanwhile, answer without the cache."""

    def job(q: Q, may_fill: bool) -> tuple[T] | None:
        if days is None:
            return (stats(q, NOTHING),)
        known = days.read(q)
        if may_fill and days.missing(known):
            return None  # fill the cache first
        out = stats(q, known)
        return (out,) if days.still(q, known) else (stats(q, NOTHING),)

    out = await db.run(lambda q: job(q, True))
    if out is None:
        assert days is not None
        try:
            await db.run(days.fill, write=True)
        except ClyptError:
            log.debug("set_days not written", exc_info=True)
        out = await db.run(lambda q: job(q, False))
    assert out is not None
    return out[0]


def purge_set_days(q: Q, before_us: int) -> int:
    """Forget the cached days whose fill is older than `before_us` (they fill again when a
    query needs them), so sets asked about once do not stay for ever; the rows deleted."""
    return q.run(
        f"""DELETE FROM set_days WHERE EXISTS (
              SELECT 1 FROM set_days m WHERE m.workspace_id = set_days.workspace_id
                 AND m.set_key = set_days.set_key AND m.dim = '{MARKER}'
                 AND m.day = set_days.day AND m.n < :before)""",
        {"before": before_us},
    )


def _runs(lo: int, hi: int, cached: dict[int, int]) -> list[tuple[bool, int, int]]:
    """The days of `[lo, hi)` as runs `(cached, start, end)`."""
    out: list[tuple[bool, int, int]] = []
    day = lo
    while day < hi:
        flag = day in cached
        start = day
        while day < hi and (day in cached) == flag:
            day += DAY
        out.append((flag, start, day))
    return out
