"""Clicks, rollups and analytics on either database."""

from __future__ import annotations

import logging
import time
from typing import Any

from clypt_mcp.models import ClickEvent
from clypt_mcp.store.base import (
    DAY,
    DIMENSIONS,
    EPOCH,
    LOG_COLUMNS,
    SLOT,
    ClickFilter,
    ClickStats,
    LinkFilter,
    capped_rollups_sql,
    cover,
    first_visit_buckets,
    first_visit_times,
    link_counts,
    old_rollups_sql,
    rollup_rows,
    set_key,
    unique_day_plan,
)
from clypt_mcp.store.links import link_where
from clypt_mcp.store.setdays import (
    CACHED_DIMS,
    LINK_DIM,
    Known,
    SetDays,
    purge_set_days,
    read_through,
)
from clypt_mcp.store.sql import Aggregate, Q
from clypt_mcp.store.webhooks import emit_clicks, wants_clicks

log = logging.getLogger(__name__)
RollupKey = tuple[str, str, int, str, int, str, int]
PAGE_COLUMNS = ("id", "ts", "code", "variant", "country", "device", "browser", "os", "referrer",
                "visitor", "bot", "traffic", "city")  # fmt: skip
_UPSERT_ROLLUPS = """INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (workspace_id, link_id, grain, dim, t, key, bot)
    DO UPDATE SET clicks = rollups.clicks + excluded.clicks"""


def _fold(q: Q, rows: list[tuple[Any, ...]]) -> None:
    """Move the counts of these rollup rows into their bucket's `other` row, and delete them."""
    folded: dict[tuple[Any, ...], int] = {}
    for r in rows:
        key = (r[0], r[1], r[2], r[3], r[4], "other", r[6])
        folded[key] = folded.get(key, 0) + int(r[7])
    q.many(_UPSERT_ROLLUPS, [(*k, n) for k, n in sorted(folded.items())])
    q.many(
        "DELETE FROM rollups WHERE workspace_id = ? AND link_id = ? AND grain = ? "
        "AND dim = ? AND t = ? AND key = ? AND bot = ?",
        [tuple(r[:7]) for r in rows],
    )


class Clicks(Aggregate):
    async def record_clicks(self, events: list[ClickEvent]) -> None:
        if events:
            await self._write(lambda q: record_clicks(q, events))

    async def record_spooled(
        self, items: list[tuple[str, ClickEvent]], now: int, keep_seconds: int
    ) -> int:
        """Record the spooled clicks whose ids were never recorded, in one transaction (table
        `spooled_clicks`, migration 0010); ids older than `keep_seconds` are pruned. How many
        were new."""
        if not items:
            return 0

        def job(q: Q) -> int:
            q.run("DELETE FROM spooled_clicks WHERE at < ?", (now - keep_seconds,))
            fresh = [
                event
                for click_id, event in items
                if q.run(
                    "INSERT INTO spooled_clicks (id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (click_id, now),
                )
            ]
            if fresh:
                record_clicks(q, fresh)
            return len(fresh)

        return int(await self._write(job))

    async def click_page(
        self,
        workspace_id: str,
        link_id: str | None,
        since: int | None,
        after: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        where, args = _click_filter(workspace_id, link_id, since)
        sql = (
            "SELECT c.id, c.ts, l.code, c.variant, c.country, c.device, c.browser, c.os, "
            "c.referrer, c.visitor, c.bot, c.traffic, c.city FROM clicks c "
            "JOIN links l ON l.id = c.link_id "
            f"WHERE {where} AND c.id > :after ORDER BY c.id LIMIT :limit"
        )
        rows = await self._read(lambda q: q.all(sql, {**args, "after": after, "limit": limit}))
        return [dict(zip(PAGE_COLUMNS, r, strict=True)) for r in rows]

    def _log_where(self, flt: ClickFilter) -> tuple[list[str], dict[str, Any]]:
        links = flt.links
        args: dict[str, Any] = {"ws": links.workspace_id}
        where = ["c.workspace_id = :ws"]
        if links.link_id is not None:
            where.append("c.link_id = :link")
            args["link"] = links.link_id
        elif links.tag or links.folder_ids is not None or links.query:
            link_sql, link_args = link_where(self.db.dialect, links, EPOCH, include_deleted=True)
            where.append(f"c.link_id IN (SELECT l.id FROM links l WHERE {link_sql})")
            args.update(link_args)
        if flt.start is not None:
            where.append("c.ts >= :start")
            args["start"] = flt.start
        if flt.end is not None:
            where.append("c.ts < :end")
            args["end"] = flt.end
        for column in ("country", "device", "traffic", "variant"):
            value = getattr(flt, column)
            if value is not None:
                where.append(f"c.{column} = :{column}")
                args[column] = value
        return where, args

    async def click_log(
        self, flt: ClickFilter, before: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        where, args = self._log_where(flt)
        args["limit"] = limit
        if before is not None:
            where.append("(c.ts < :b_ts OR (c.ts = :b_ts AND c.id < :b_id))")
            args["b_ts"], args["b_id"] = before
        sql = (
            "SELECT c.id, c.ts, l.code, c.variant, c.country, c.city, c.device, c.browser, "
            "c.os, c.referrer, c.traffic FROM clicks c JOIN links l ON l.id = c.link_id "
            f"WHERE {' AND '.join(where)} ORDER BY c.ts DESC, c.id DESC LIMIT :limit"
        )
        rows = await self._read(lambda q: q.all(sql, args))
        return [dict(zip(LOG_COLUMNS, r, strict=True)) for r in rows]

    async def count_log(self, flt: ClickFilter) -> int:
        where, args = self._log_where(flt)
        sql = f"SELECT COUNT(*) FROM clicks c WHERE {' AND '.join(where)}"
        return int(await self._read(lambda q: q.scalar(sql, args)))

    async def count_clicks(self, workspace_id: str, link_id: str | None, since: int | None) -> int:
        where, args = _click_filter(workspace_id, link_id, since)
        sql = f"SELECT COUNT(*) FROM clicks c WHERE {where}"
        return int(await self._read(lambda q: q.scalar(sql, args)))

    async def purge_clicks(self, before: int, limit: int) -> int:
        def job(q: Q) -> int:
            deleted = 0
            for (ws,) in q.all("SELECT id FROM workspaces ORDER BY id"):
                if deleted >= limit:
                    return deleted
                deleted += q.run(
                    """DELETE FROM clicks WHERE id IN (SELECT id FROM clicks
                        WHERE workspace_id = :ws AND ts < :before LIMIT :n)""",
                    {"ws": ws, "before": before, "n": limit - deleted},
                )
            # Visitor marks stay: unique visitors of a folder, a tag or any set of links are
            # counted from them, and must not change when raw clicks go.
            return deleted

        return await self._write(job)

    async def cap_rollups(self, since: int) -> int:
        def job(q: Q) -> int:
            rows = q.all(capped_rollups_sql(":since"), {"since": since})
            _fold(q, rows)
            return len(rows)

        return await self._write(job)

    async def fold_rollups(self, before: int, limit: int) -> int:
        def job(q: Q) -> int:
            rows = q.all(old_rollups_sql(":before", ":limit"), {"before": before, "limit": limit})
            _fold(q, rows)
            return len(rows)

        return await self._write(job)

    async def purge_set_days(self, older_than: int) -> int:
        before = time.time_ns() // 1000 - older_than * 1_000_000
        return await self._write(lambda q: purge_set_days(q, before))

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
        """Counts over `[start, end)` from the rollups, decomposed by `cover()`."""
        whole = flt.link_id is None and not (flt.tag or flt.folder_ids or flt.query)
        args: dict[str, Any]
        days: SetDays | None = None  # a set of links: its whole past days are cached
        if whole:
            links_sql, args = "r.link_id = ''", {"ws": flt.workspace_id}
        else:
            link_sql, args = link_where(self.db.dialect, flt, EPOCH, include_deleted=True)
            members = f"SELECT l.id FROM links l WHERE {link_sql}"
            links_sql = f"r.link_id IN ({members})"
            if flt.link_id is None:
                key = set_key(members, args)  # names the set in set_days
                days = SetDays(flt.workspace_id, key, members, args, (start, end), int(time.time()))
                args = days.args  # the link filter's and the cache's
        every = f"r.workspace_id = :ws AND {links_sql}"
        base = every + ("" if include_bots else " AND r.bot = 0")
        args["_top"] = top
        period = cover(start, end)
        top_order = "n DESC, k LIMIT :_top"

        def stats(q: Q, known: Known) -> ClickStats:
            s = _Stats(q, base, args, days.where(include_bots) if days else None)
            span = days.split(period, known) if days else period
            breakdowns = {dim: s.grouped(dim, span, "r.key", top_order) for dim in DIMENSIONS}
            by_link = s.grouped(
                "link" if whole else "*", span, "r.key" if whole else "r.link_id", top_order
            )
            breakdowns["link"] = _codes(q, by_link)
            series = cover(start, end, unit)
            buckets = s.grouped(
                "*", days.split(series, known) if days else series, f"(r.t / {unit}) * {unit}", "k"
            )
            traffic = _Stats(q, every, args, days.where(True) if days else None).grouped(
                "traffic", span, "r.key", "n DESC, k"
            )
            variants: list[tuple[str, int, int]] = []
            if flt.link_id is not None:
                seen = dict(s.grouped("variant_uniques", period, "r.key", "k"))
                variants = [
                    (k, n, seen.get(k, 0))
                    for k, n in s.grouped("variant", period, "r.key", "n DESC, k")
                ]
            if days is None:  # one link or the workspace: its own first-visit rollups
                uniques = s.total("uniques", period)
            else:  # any other set: distinct visitors of each UTC day over its links' marks
                uniques = _set_uniques(q, days, known, (start, end))
            first = None
            if want_first:
                first = s.value("SELECT MIN(r.t) FROM rollups r WHERE {base} AND r.grain = 900 "
                                "AND r.dim = '*'")  # fmt: skip
            all_time = s.value("SELECT COALESCE(SUM(r.clicks), 0) FROM rollups r WHERE {base} "
                               "AND r.grain = 86400 AND r.dim = '*'")  # fmt: skip
            return ClickStats(
                total_clicks=int(all_time),
                clicks_in_period=s.total("*", span),
                unique_visitors=uniques,
                buckets=[(int(k), n) for k, n in buckets],
                breakdowns=breakdowns,
                first_bucket=None if first is None else int(first),
                traffic=[(str(k), n) for k, n in traffic],
                variants=variants,
            )

        return await read_through(self.db, days, stats)


CLICK_COLUMNS = ("workspace_id", "link_id", "ts", "variant", "country", "device", "browser", "os",
                 "referrer", "visitor", "bot", "traffic", "city", "click_id")  # fmt: skip


def record_clicks(q: Q, events: list[ClickEvent]) -> None:
    """Append clicks, bump their links' counters and upsert the rollups, in one transaction.

    Link rows are locked first, in id order: a permanent delete waits for this batch (and
    then removes its clicks and rollups), and concurrent batches cannot deadlock on them.
    Clicks of links deleted before the batch are dropped instead of failing the batch.
    """
    args: dict[str, Any] = {}
    ids = q.d.in_list("id", "ids", sorted({e.link_id for e in events}), args)
    live = {
        r[0] for r in q.all(f"SELECT id FROM links WHERE {ids} ORDER BY id{q.d.lock_rows}", args)
    }
    events = [e for e in events if e.link_id in live]
    if not events:
        return
    insert = f"""INSERT INTO clicks ({", ".join(CLICK_COLUMNS)})
                 VALUES ({", ".join("?" for _ in CLICK_COLUMNS)})"""
    values = [
        (e.workspace_id, e.link_id, e.ts, e.variant, e.country, e.device,
         e.browser, e.os, e.referrer, e.visitor, int(e.bot), e.traffic, e.city, e.click_id)
        for e in events
    ]  # fmt: skip
    # The webhook outbox: with a `link.clicked` listener the batch's events go out with it,
    # and the clicks' ids are read back for them.
    if not wants_clicks(q, {e.workspace_id for e in events}):
        q.insert_rows("clicks", CLICK_COLUMNS, values)
    elif q.d.name == "sqlite":
        # The write transaction holds the database, so the batch's rowids are consecutive and
        # end at last_insert_rowid(): one insert, as without a listener.
        q.insert_rows("clicks", CLICK_COLUMNS, values)
        last = int(q.scalar("SELECT last_insert_rowid()"))
        emit_clicks(q, events, list(range(last - len(values) + 1, last + 1)))
    else:
        click_ids = [int(r[0]) for r in q.returning(insert + " RETURNING id", values)]
        emit_clicks(q, events, click_ids)
    q.many(
        f"""UPDATE links SET clicks = clicks + ?,
               last_clicked_at = {q.d.greatest("COALESCE(last_clicked_at, 0)", "?")}
             WHERE id = ?""",
        [(n, last, link_id) for link_id, n, last in link_counts(events)],
    )
    rollups = rollup_rows(events)
    for key, n in first_visits(q, events).items():
        rollups[key] = rollups.get(key, 0) + n
    q.many(_UPSERT_ROLLUPS, [(*key, n) for key, n in sorted(rollups.items())])


def first_visits(q: Q, events: list[ClickEvent]) -> dict[RollupKey, int]:
    """Count each human visitor once per UTC day (workspace-wide, per link and per variant),
    in the rollup buckets of their first visit that day; the new marks are kept. The insert
    into visitor_days decides who is new, so concurrent writers never count one visitor
    twice."""
    firsts = first_visit_times(events)  # (ws, link, day, visitor) -> first ts
    new = q.returning(
        """INSERT INTO visitor_days (workspace_id, link_id, day, visitor, first_ts)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT DO NOTHING RETURNING workspace_id, link_id, day, visitor""",
        [(*mark, firsts[mark]) for mark in sorted(firsts)],
    )
    return first_visit_buckets(firsts, [(r[0], r[1], int(r[2]), r[3]) for r in new])


def _set_uniques(q: Q, days: SetDays, known: Known, span: tuple[int, int]) -> int:
    """Distinct visitors of each UTC day over the marks of the set's links (whole days from
    the cache where `known` has them), summed; at a partial day at an edge of the window,
    those whose first visit to the set falls in it."""
    n = sum(known.uniques.values())
    members, args = days.members, days.args
    for lo, hi in days.open_days(known):
        n += int(
            q.scalar(
                f"""SELECT COUNT(*) FROM (SELECT DISTINCT v.day, v.visitor FROM visitor_days v
                     WHERE v.workspace_id = :ws AND v.link_id IN ({members})
                       AND v.day >= :_lo AND v.day < :_hi) AS s""",
                {**args, "_lo": lo, "_hi": hi},
            )
        )
    _, _, partial = unique_day_plan(span[0], span[1], 0)
    for lo, hi in partial:
        n += int(
            q.scalar(
                f"""SELECT COUNT(*) FROM (SELECT MIN(v.first_ts) AS f FROM visitor_days v
                     WHERE v.workspace_id = :ws AND v.link_id IN ({members})
                       AND v.day = :_d GROUP BY v.visitor) AS s
                    WHERE f >= :_lo AND f < :_hi""",
                {**args, "_d": lo // DAY * DAY, "_lo": lo, "_hi": hi},
            )
        )
    return n


def _click_filter(
    workspace_id: str, link_id: str | None, since: int | None
) -> tuple[str, dict[str, Any]]:
    sql = "c.workspace_id = :ws"
    args: dict[str, Any] = {"ws": workspace_id}
    if link_id is not None:
        sql += " AND c.link_id = :link"
        args["link"] = link_id
    if since is not None:
        sql += " AND c.ts >= :since"
        args["since"] = since
    return sql, args


class _Stats:
    """Queries over the rollup rows that `base` selects; ranges of grain 0 are whole days of a
    set of links read from its cached days (the `set_days s` rows that `cached` selects)."""

    def __init__(self, q: Q, base: str, args: dict[str, Any], cached: str | None = None) -> None:
        self.q = q
        self.base = base
        self.args = args
        self.cached = cached

    def rows(self, dim: str, ranges: list[tuple[int, int, int]], key: str | None) -> str:
        parts = []
        for g, lo, hi in ranges:
            if g == 0:
                assert self.cached is not None and (dim in CACHED_DIMS or key == "r.link_id")
                cols = "s.n AS n"
                if key is not None:  # a key, a link (cached as keys of dim 'link'), a bucket
                    k = "s.key" if key in ("r.key", "r.link_id") else key.replace("r.t", "s.day")
                    cols = f"{k} AS k, s.n AS n"
                parts.append(
                    f"SELECT {cols} FROM set_days s WHERE {self.cached} "
                    f"AND s.dim = '{LINK_DIM if key == 'r.link_id' else dim}' "
                    f"AND s.day >= {lo} AND s.day < {hi}"
                )
                continue
            cols = "r.clicks AS n" if key is None else f"{key} AS k, r.clicks AS n"
            parts.append(
                f"SELECT {cols} FROM rollups r WHERE {self.base} AND r.grain = {g} "
                f"AND r.dim = '{dim}' AND r.t >= {lo} AND r.t < {hi}"
            )
        return " UNION ALL ".join(parts) or "SELECT NULL AS k, 0 AS n WHERE 1 = 0"

    def grouped(
        self, dim: str, ranges: list[tuple[int, int, int]], key: str, order: str
    ) -> list[tuple[Any, int]]:
        inner = self.rows(dim, ranges, key)
        sql = (
            f"SELECT k, SUM(n) AS n FROM ({inner}) AS s GROUP BY k "
            f"HAVING SUM(n) > 0 ORDER BY {order}"
        )
        return [(r[0], int(r[1])) for r in self.q.all(sql, self.args)]

    def total(self, dim: str, ranges: list[tuple[int, int, int]]) -> int:
        inner = self.rows(dim, ranges, None)
        return int(self.q.scalar(f"SELECT COALESCE(SUM(n), 0) FROM ({inner}) AS s", self.args))

    def value(self, template: str) -> Any:
        return self.q.scalar(template.format(base=self.base), self.args)


def _codes(q: Q, by_id: list[tuple[Any, int]]) -> list[tuple[str, int]]:
    """Link ids to their codes (a link deleted for good keeps its id as the key)."""
    if not by_id:
        return []
    args: dict[str, Any] = {}
    ids = q.d.in_list("id", "ids", [i for i, _ in by_id], args)
    codes = dict(q.all(f"SELECT id, code FROM links WHERE {ids}", args))
    return [(codes.get(i, i), n) for i, n in by_id]
