"""Clicks, rollups and analytics on PostgreSQL: the SQL behind PostgresStore."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from clypt_mcp.store.base import (
    DAY,
    DIMENSIONS,
    EPOCH,
    GRAINS,
    ClickStats,
    LinkFilter,
    capped_rollups_sql,
    cover,
    first_visit_buckets,
    first_visit_times,
    link_counts,
    rollup_rows,
    set_key,
    unique_day_plan,
)
from clypt_mcp.store.postgres_sql import fetchall, link_where, rowcount, scalar

if TYPE_CHECKING:
    from clypt_mcp.models import ClickEvent
    from clypt_mcp.store.postgres_sql import Conn

RollupKey = tuple[str, str, int, str, int, str, int]

_INSERT_CLICKS = """INSERT INTO clicks (workspace_id, link_id, ts, variant, country, device,
        browser, os, referrer, visitor, bot, traffic, city)
    SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[],
        %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::smallint[],
        %s::text[], %s::text[])"""

_UPSERT_ROLLUPS = """INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
    SELECT * FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[], %s::bigint[],
        %s::text[], %s::smallint[], %s::bigint[])
    ON CONFLICT (workspace_id, link_id, grain, dim, t, key, bot)
    DO UPDATE SET clicks = rollups.clicks + excluded.clicks"""


async def record_clicks(conn: Conn, events: list[ClickEvent]) -> None:
    """Append clicks, bump their links' counters and upsert the rollups, in one transaction.

    Link rows are locked first, in id order: a permanent delete waits for this batch (and
    then removes its clicks and rollups), and concurrent batches cannot deadlock on them.
    Clicks of links deleted before the batch are dropped instead of failing the batch.
    """
    link_ids = sorted({e.link_id for e in events})
    live = {
        r[0]
        for r in await fetchall(
            conn,
            "SELECT id FROM links WHERE id = ANY(%s::text[]) ORDER BY id FOR NO KEY UPDATE",
            (link_ids,),
        )
    }
    events = [e for e in events if e.link_id in live]
    if not events:
        return
    await conn.execute(_INSERT_CLICKS, _columns([_click_row(e) for e in events], 13))
    counts = link_counts(events)
    await conn.execute(
        """UPDATE links AS l SET clicks = l.clicks + v.n,
               last_clicked_at = GREATEST(COALESCE(l.last_clicked_at, 0), v.last)
             FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS v (id, n, last)
            WHERE l.id = v.id""",
        _columns(counts, 3),
    )
    rollups = rollup_rows(events)
    for key, n in (await first_visits(conn, events)).items():
        rollups[key] = rollups.get(key, 0) + n
    rows = [(*key, n) for key, n in sorted(rollups.items())]
    await conn.execute(_UPSERT_ROLLUPS, _columns(rows, 8))


def _click_row(e: ClickEvent) -> tuple[Any, ...]:
    return (
        e.workspace_id,
        e.link_id,
        e.ts,
        e.variant,
        e.country,
        e.device,
        e.browser,
        e.os,
        e.referrer,
        e.visitor,
        int(e.bot),
        e.traffic,
        e.city,
    )


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as one list per column, the parameters of an `unnest(...)` insert."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(col) for col in zip(*rows, strict=True)]


async def first_visits(conn: Conn, events: list[ClickEvent]) -> dict[RollupKey, int]:
    """Count each human visitor once per UTC day (workspace-wide and per link), in the rollup
    buckets of their first visit that day. The insert into visitor_days decides who is new,
    so concurrent writers never count one visitor twice."""
    firsts = first_visit_times(events)  # (ws, link, day, visitor) -> first ts
    if not firsts:
        return {}
    new = await fetchall(
        conn,
        """INSERT INTO visitor_days (workspace_id, link_id, day, visitor, first_ts)
           SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::bigint[])
           ON CONFLICT DO NOTHING RETURNING workspace_id, link_id, day, visitor""",
        _columns([(*mark, firsts[mark]) for mark in sorted(firsts)], 5),
    )
    return first_visit_buckets(firsts, [(r[0], r[1], int(r[2]), r[3]) for r in new])


async def cap_rollups(conn: Conn, since: int) -> int:
    """SqliteStore.cap_rollups on PostgreSQL."""
    rows = await fetchall(conn, capped_rollups_sql("%s"), (since,))
    if not rows:
        return 0
    folded = [(r[0], r[1], r[2], r[3], r[4], "other", r[6], r[7]) for r in rows]
    await conn.execute(_UPSERT_ROLLUPS, _columns(_summed(folded), 8))
    await conn.execute(
        """DELETE FROM rollups AS r USING unnest(%s::text[], %s::text[], %s::int[], %s::text[],
               %s::bigint[], %s::text[], %s::smallint[]) AS d (ws, link, grain, dim, t, key, bot)
            WHERE r.workspace_id = d.ws AND r.link_id = d.link AND r.grain = d.grain
              AND r.dim = d.dim AND r.t = d.t AND r.key = d.key AND r.bot = d.bot""",
        _columns([tuple(r[:7]) for r in rows], 7),
    )
    return len(rows)


def _summed(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with the same key (all but the last column) added up: one upsert each."""
    sums: dict[tuple[Any, ...], int] = {}
    for *key, n in rows:
        sums[tuple(key)] = sums.get(tuple(key), 0) + int(n)
    return [(*k, n) for k, n in sorted(sums.items())]


async def recount_workspace_uniques(conn: Conn, workspace_id: str, days: list[int]) -> None:
    """Rebuild the workspace's visitor marks and 'uniques' rollups of `days` from the marks of
    the links that remain (after a link is deleted for good)."""
    args = {"ws": workspace_id, "days": days}
    await conn.execute(
        "DELETE FROM visitor_days WHERE workspace_id = %(ws)s AND link_id = '' "
        "AND day = ANY(%(days)s::bigint[])",
        args,
    )
    await conn.execute(
        """INSERT INTO visitor_days (workspace_id, link_id, day, visitor, first_ts)
           SELECT %(ws)s, '', day, visitor, MIN(first_ts) FROM visitor_days
            WHERE workspace_id = %(ws)s AND day = ANY(%(days)s::bigint[])
              AND link_id IN (SELECT id FROM links WHERE workspace_id = %(ws)s)
            GROUP BY day, visitor""",
        args,
    )
    await conn.execute(
        """DELETE FROM rollups WHERE workspace_id = %(ws)s AND link_id = '' AND dim = 'uniques'
              AND (t / 86400) * 86400 = ANY(%(days)s::bigint[])""",
        args,
    )
    await conn.execute(
        """INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
           SELECT %(ws)s, '', g.grain, 'uniques', (v.first_ts / g.grain) * g.grain, '', 0,
                  COUNT(*)
             FROM visitor_days v CROSS JOIN unnest(%(grains)s::int[]) AS g (grain)
            WHERE v.workspace_id = %(ws)s AND v.link_id = '' AND v.day = ANY(%(days)s::bigint[])
            GROUP BY 3, 5""",
        {**args, "grains": list(GRAINS)},
    )


def _click_filter(
    workspace_id: str, link_id: str | None, since: int | None
) -> tuple[str, dict[str, Any]]:
    sql = "c.workspace_id = %(ws)s"
    args: dict[str, Any] = {"ws": workspace_id}
    if link_id is not None:
        sql += " AND c.link_id = %(link)s"
        args["link"] = link_id
    if since is not None:
        sql += " AND c.ts >= %(since)s"
        args["since"] = since
    return sql, args


async def click_page(
    conn: Conn, workspace_id: str, link_id: str | None, since: int | None, after: int, limit: int
) -> list[dict[str, Any]]:
    where, args = _click_filter(workspace_id, link_id, since)
    rows = await fetchall(
        conn,
        "SELECT c.id, c.ts, l.code, c.variant, c.country, c.device, c.browser, c.os, "
        "c.referrer, c.visitor, c.bot, c.traffic, c.city FROM clicks c "
        "JOIN links l ON l.id = c.link_id "
        f"WHERE {where} AND c.id > %(after)s ORDER BY c.id LIMIT %(limit)s",
        {**args, "after": after, "limit": limit},
    )
    return [dict(zip(_PAGE_COLUMNS, r, strict=True)) for r in rows]


_PAGE_COLUMNS = (
    "id",
    "ts",
    "code",
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
)


async def count_clicks(
    conn: Conn, workspace_id: str, link_id: str | None, since: int | None
) -> int:
    where, args = _click_filter(workspace_id, link_id, since)
    return int(await scalar(conn, f"SELECT COUNT(*) FROM clicks c WHERE {where}", args))


async def purge_clicks(conn: Conn, before: int, limit: int) -> int:
    """SqliteStore.purge_clicks on PostgreSQL: workspace by workspace along `clicks_ws_ts`."""
    deleted = 0
    for (ws,) in await fetchall(conn, "SELECT id FROM workspaces ORDER BY id"):
        if deleted >= limit:
            return deleted
        deleted += await rowcount(
            conn,
            """DELETE FROM clicks WHERE id IN (SELECT id FROM clicks
                WHERE workspace_id = %s AND ts < %s LIMIT %s)""",
            (ws, before, limit - deleted),
        )
    # Visitor marks stay: unique visitors of a folder, a tag or any set of links are counted
    # from them, and must not change when raw clicks go.
    return deleted


async def click_stats(
    conn: Conn,
    flt: LinkFilter,
    span: tuple[int, int],
    include_bots: bool,
    top: int,
    unit: int,
    want_first: bool,
) -> ClickStats:
    """Counts over `[start, end)` from the rollups, decomposed by `cover()` as SqliteStore's."""
    whole = flt.link_id is None and not (flt.tag or flt.folder_ids or flt.query)
    members = ""
    if whole:
        links_sql, args = "r.link_id = ''", {"ws": flt.workspace_id}
    else:
        link_sql, link_args = link_where(flt, EPOCH, include_deleted=True)
        members = f"SELECT l.id FROM links l WHERE {link_sql}"
        links_sql = f"r.link_id IN ({members})"
        args = dict(link_args)
    every = f"r.workspace_id = %(ws)s AND {links_sql}"
    base = every + ("" if include_bots else " AND r.bot = 0")
    q = _Stats(conn, base, {**args, "_top": top})
    start, end = span
    period = cover(start, end)
    top_order = "n DESC, k LIMIT %(_top)s"
    breakdowns = {dim: await q.grouped(dim, period, "r.key", top_order) for dim in DIMENSIONS}
    by_link = await q.grouped(
        "link" if whole else "*", period, "r.key" if whole else "r.link_id", top_order
    )
    breakdowns["link"] = await _codes(conn, by_link)
    buckets = await q.grouped("*", cover(start, end, unit), f"(r.t / {unit}) * {unit}", "k")
    traffic = await _Stats(conn, every, q.args).grouped("traffic", period, "r.key", "n DESC, k")
    variants: list[tuple[str, int, int]] = []
    if flt.link_id is not None:
        seen = dict(await q.grouped("variant_uniques", period, "r.key", "k"))
        variants = [
            (k, n, seen.get(k, 0))
            for k, n in await q.grouped("variant", period, "r.key", "n DESC, k")
        ]
    if whole or flt.link_id is not None:  # one set's own first-visit rollups
        uniques = await q.total("uniques", period)
    else:  # any other set: distinct visitors of each UTC day over the marks of its links
        uniques = await _set_uniques(conn, flt.workspace_id, members, args, start, end)
    first = None
    if want_first:
        first = await q.value(
            "SELECT MIN(r.t) FROM rollups r WHERE {base} AND r.grain = 900 AND r.dim = '*'"
        )
    return ClickStats(
        total_clicks=int(
            await q.value(
                "SELECT COALESCE(SUM(r.clicks), 0) FROM rollups r WHERE {base} "
                "AND r.grain = 86400 AND r.dim = '*'"
            )
        ),
        clicks_in_period=await q.total("*", period),
        unique_visitors=uniques,
        buckets=[(int(k), n) for k, n in buckets],
        breakdowns=breakdowns,
        first_bucket=None if first is None else int(first),
        traffic=traffic,
        variants=variants,
    )


class _Stats:
    """Queries over the rollup rows that `base` selects."""

    def __init__(self, conn: Conn, base: str, args: dict[str, Any]) -> None:
        self.conn = conn
        self.base = base
        self.args = args

    def rows(self, dim: str, ranges: list[tuple[int, int, int]], cols: str) -> str:
        return (
            " UNION ALL ".join(
                f"SELECT {cols} FROM rollups r WHERE {self.base} AND r.grain = {g} "
                f"AND r.dim = '{dim}' AND r.t >= {lo} AND r.t < {hi}"
                for g, lo, hi in ranges
            )
            or "SELECT NULL AS k, 0 AS n WHERE FALSE"
        )

    async def grouped(
        self, dim: str, ranges: list[tuple[int, int, int]], key: str, order: str
    ) -> list[tuple[Any, int]]:
        inner = self.rows(dim, ranges, f"{key} AS k, r.clicks AS n")
        sql = (
            f"SELECT k, SUM(n)::bigint AS n FROM ({inner}) AS s GROUP BY k "
            f"HAVING SUM(n) > 0 ORDER BY {order}"
        )
        return [(r[0], int(r[1])) for r in await fetchall(self.conn, sql, self.args)]

    async def total(self, dim: str, ranges: list[tuple[int, int, int]]) -> int:
        inner = self.rows(dim, ranges, "r.clicks AS n")
        sql = f"SELECT COALESCE(SUM(n), 0)::bigint FROM ({inner}) AS s"
        return int(await scalar(self.conn, sql, self.args))

    async def value(self, template: str) -> Any:
        return await scalar(self.conn, template.format(base=self.base), self.args)


async def _codes(conn: Conn, by_id: list[tuple[Any, int]]) -> list[tuple[str, int]]:
    """Link ids to their codes (a link deleted for good keeps its id as the key)."""
    if not by_id:
        return []
    codes = dict(
        await fetchall(
            conn, "SELECT id, code FROM links WHERE id = ANY(%s::text[])", ([i for i, _ in by_id],)
        )
    )
    return [(codes.get(i, i), n) for i, n in by_id]


async def _set_uniques(
    conn: Conn, workspace_id: str, members: str, args: dict[str, Any], start: int, end: int
) -> int:
    """Distinct visitors of each UTC day over the marks of the links `members` selects (whole
    past days cached in unique_days), and at a partial day at an edge of the window those whose
    first visit to the set falls in it (SqliteStore's `uniques`)."""
    key = set_key(members, args)
    settled, fresh, partial = unique_day_plan(start, end, int(time.time()))
    counts: dict[int, int] = {}
    if settled:
        rows = await fetchall(
            conn,
            "SELECT day, visitors FROM unique_days WHERE workspace_id = %(ws)s "
            "AND day >= %(_a)s AND day <= %(_b)s AND set_key = %(_k)s",
            {**args, "_a": settled[0], "_b": settled[-1], "_k": key},
        )
        counts.update((int(d), int(n)) for d, n in rows)
    todo = [d for d in settled if d not in counts] + fresh
    if todo:
        found = {
            int(d): int(n)
            for d, n in await fetchall(
                conn,
                f"""SELECT v.day, COUNT(DISTINCT v.visitor) FROM visitor_days v
                     WHERE v.workspace_id = %(ws)s AND v.link_id IN ({members})
                       AND v.day >= %(_a)s AND v.day <= %(_b)s GROUP BY v.day""",
                {**args, "_a": min(todo), "_b": max(todo)},
            )
        }
        for day in todo:
            counts[day] = found.get(day, 0)
        cache = [(workspace_id, d, key, counts[d]) for d in todo if d in set(settled)]
        if cache:
            await conn.execute(
                """INSERT INTO unique_days (workspace_id, day, set_key, visitors)
                   SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::bigint[])
                   ON CONFLICT DO NOTHING""",
                _columns(cache, 4),
            )
    n = sum(counts[d] for d in settled + fresh)
    for lo, hi in partial:
        n += int(
            await scalar(
                conn,
                f"""SELECT COUNT(*) FROM (SELECT MIN(v.first_ts) AS f FROM visitor_days v
                     WHERE v.workspace_id = %(ws)s AND v.link_id IN ({members})
                       AND v.day = %(_d)s GROUP BY v.visitor) AS s
                    WHERE f >= %(_lo)s AND f < %(_hi)s""",
                {**args, "_d": lo // DAY * DAY, "_lo": lo, "_hi": hi},
            )
        )
    return n
