"""Conversions (#15) on either database: the click a click id names, and the one write path
that stores a conversion, dedupes it by external id and counts it in `conversion_rollups`."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from clypt_mcp.store.base import (
    EPOCH,
    GRAINS,
    SLOT,
    ClickRecord,
    ConversionRecord,
    ConversionStats,
    LinkFilter,
    cover,
    from_us,
    set_key,
    to_us,
)
from clypt_mcp.store.links import link_where
from clypt_mcp.store.setdays import (
    CONV,
    CONV_LINK,
    CONV_TOTAL,
    CONV_VALUE,
    Known,
    SetDays,
    read_through,
)
from clypt_mcp.store.sql import Aggregate, Q
from clypt_mcp.store.webhooks import emit_conversion

log = logging.getLogger(__name__)

_COLUMNS = (
    "id, workspace_id, link_id, click_id, event, value, currency, external_id, occurred_at, "
    "created_at, click_ts, variant, country, device, referrer"
)
_UPSERT_ROLLUPS = """INSERT INTO conversion_rollups
        (workspace_id, link_id, grain, dim, t, key, event, currency, conversions, revenue)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
    ON CONFLICT (workspace_id, link_id, grain, dim, t, key, event, currency)
    DO UPDATE SET conversions = conversion_rollups.conversions + 1,
                  revenue = conversion_rollups.revenue + excluded.revenue"""


class Conversions(Aggregate):
    async def click_by_id(self, workspace_id: str, click_id: str) -> ClickRecord | None:
        row = await self._read(
            lambda q: q.one(
                "SELECT workspace_id, link_id, ts, variant, country, device, referrer "
                "FROM clicks WHERE click_id = :cid AND workspace_id = :ws ORDER BY id LIMIT 1",
                {"cid": click_id, "ws": workspace_id},
            )
        )
        return None if row is None else ClickRecord(*row)

    async def find_conversion(
        self, workspace_id: str, event: str, external_id: str
    ) -> ConversionRecord | None:
        return await self._read(lambda q: _by_external(q, workspace_id, event, external_id))

    async def insert_conversion(self, record: ConversionRecord) -> tuple[ConversionRecord, bool]:
        def job(q: Q) -> tuple[ConversionRecord, bool]:
            r = record
            made = q.run(
                f"""INSERT INTO conversions ({_COLUMNS})
                    VALUES (:id, :ws, :link, :cid, :event, :value, :currency, :ext, :at, :made,
                            :ts, :variant, :country, :device, :referrer)
                    ON CONFLICT (workspace_id, event, external_id)
                    WHERE external_id IS NOT NULL DO NOTHING""",
                {
                    "id": r.id, "ws": r.workspace_id, "link": r.link_id, "cid": r.click_id,
                    "event": r.event, "value": r.value, "currency": r.currency,
                    "ext": r.external_id, "at": to_us(r.occurred_at), "made": to_us(r.created_at),
                    "ts": r.click_ts, "variant": r.variant, "country": r.country,
                    "device": r.device, "referrer": r.referrer,
                },
            )  # fmt: skip
            if not made:  # another conversion with this external id and event came first
                assert r.external_id is not None
                first = _by_external(q, r.workspace_id, r.event, r.external_id)
                assert first is not None
                return first, False
            q.many(_UPSERT_ROLLUPS, rollup_rows(r))
            emit_conversion(q, r)  # the webhook outbox, in the same transaction
            return r, True

        return await self._write(job)

    async def conversion_stats(
        self,
        flt: LinkFilter,
        start: int,
        end: int,
        unit: int = SLOT,
        codes: list[str] | None = None,
    ) -> ConversionStats:
        """Like `click_stats`: the rollups of the workspace (link '') or of the selected links,
        over grains that tile the window (`cover`), so a query reads a number of rows that
        does not grow with the conversions; a set of links (a folder, a tag, a search) reads
        its whole past days from the per-set day cache (store/setdays.py) with its clicks.
        `codes`: for the whole workspace, the links whose conversions the answer needs (the
        top links by clicks; the rest is the total less them), so the per-link rows of every
        other link are not read."""
        whole = flt.link_id is None and not (flt.tag or flt.folder_ids or flt.query)
        args: dict[str, Any]
        days: SetDays | None = None
        first = start // SLOT * SLOT
        if whole:
            where, args = "r.workspace_id = :ws AND r.link_id = ''", {"ws": flt.workspace_id}
        else:
            link_sql, args = link_where(self.db.dialect, flt, EPOCH, include_deleted=True)
            members = f"SELECT l.id FROM links l WHERE {link_sql}"
            where = f"r.workspace_id = :ws AND r.link_id IN ({members})"
            if flt.link_id is None:  # the same set, and so the same cache, as its clicks'
                key = set_key(members, args)
                days = SetDays(flt.workspace_id, key, members, args, (first, end), int(time.time()))
                args = days.args
        period = cover(first, end)
        series = cover(first, end, unit)

        def rows_in(dims: str, ranges: list[tuple[int, int, int]], cols: str) -> str:
            return " UNION ALL ".join(
                f"SELECT {cols} FROM conversion_rollups r WHERE {where} AND r.grain = {g} "
                f"AND {dims} AND r.t >= {lo} AND r.t < {hi}"
                for g, lo, hi in ranges
                if g  # grain 0: whole days of a set, from its cache
            )

        link_args = args
        link_rows = "r.dim = 'link'" if whole else "r.dim = '*'"
        if whole and codes is not None:
            link_args = dict(args)
            named = self.db.dialect.in_list("l.code", "_codes", codes, link_args)
            link_rows += (
                f" AND r.key IN (SELECT l.id FROM links l WHERE l.workspace_id = :ws AND {named})"
            )

        def stats(q: Q, known: Known) -> ConversionStats:
            span = days.split(period, known) if days else period
            cached = (
                " OR ".join(f"(s.day >= {lo} AND s.day < {hi})" for g, lo, hi in span if not g)
                if days
                else ""
            )
            totals: dict[tuple[str, str], list[int]] = {}
            counts: dict[tuple[str, str], int] = {}
            live = rows_in("r.dim = '*'", span, "r.event AS k, r.currency AS c, "
                           "r.conversions AS n, r.revenue AS v")  # fmt: skip
            if live:
                for k, c, n, v in q.all(
                    f"SELECT k, c, SUM(n), SUM(v) FROM ({live}) AS s GROUP BY k, c", args
                ):
                    totals[(str(k), str(c))] = [int(n), int(v)]
            dims = "r.dim IN ('country', 'device', 'referrer', 'variant')"
            live = rows_in(dims, span, "r.dim AS d, r.key AS k, r.conversions AS n")
            if live:
                for d, k, n in q.all(f"SELECT d, k, SUM(n) FROM ({live}) AS s GROUP BY d, k", args):
                    counts[(str(d), str(k))] = int(n)
            if cached:
                assert days is not None
                for d, k, n in q.all(
                    f"SELECT s.dim, s.key, SUM(s.n) FROM set_days s WHERE {days.where(True)} "
                    f"AND s.dim >= '{CONV}' AND s.dim < '{CONV[:-1]};' AND s.dim <> '{CONV_LINK}' "
                    f"AND ({cached}) GROUP BY s.dim, s.key",
                    args,
                ):
                    dim, k, n = str(d)[len(CONV) :], str(k), int(n)
                    if d in (CONV_TOTAL, CONV_VALUE):
                        currency, _, event = k.partition(":")
                        pair = totals.setdefault((event, currency), [0, 0])
                        pair[d == CONV_VALUE] += n
                    else:
                        counts[(dim, k)] = counts.get((dim, k), 0) + n
            breakdowns: dict[str, dict[str, int]] = {}
            for (dim, k), n in sorted(counts.items()):
                if n > 0:
                    breakdowns.setdefault(dim, {})[k] = n
            key = "r.key" if whole else "r.link_id"
            inner = _union(
                rows_in(link_rows, span, f"{key} AS k, r.conversions AS n"),
                _cached(days, cached, f"= '{CONV_LINK}'", "s.key AS k, s.n AS n"),
            )
            by_link = q.all(
                f"""SELECT COALESCE(l.code, g.k), g.n
                    FROM (SELECT k, SUM(n) AS n FROM ({inner}) AS s GROUP BY k) AS g
                    LEFT JOIN links l ON l.id = g.k""",
                link_args,
            )  # a link deleted for good keeps its id as the key, as in the click breakdown
            breakdowns["link"] = {str(code): int(n) for code, n in by_link}
            spans = days.split(series, known) if days else series
            bucket_days = " OR ".join(
                f"(s.day >= {lo} AND s.day < {hi})" for g, lo, hi in spans if not g
            )
            inner = _union(
                rows_in("r.dim = '*'", spans,
                        f"(r.t / {int(unit)}) * {int(unit)} AS k, r.conversions AS n"),
                _cached(days, bucket_days, f"= '{CONV_TOTAL}'",
                        f"(s.day / {int(unit)}) * {int(unit)} AS k, s.n AS n"),
            )  # fmt: skip
            buckets = q.all(f"SELECT k, SUM(n) FROM ({inner}) AS s GROUP BY k ORDER BY k", args)
            return ConversionStats(
                by_event=[(e, c, n, v) for (e, c), (n, v) in sorted(totals.items()) if n > 0],
                breakdowns=breakdowns,
                buckets=[(int(k), int(n)) for k, n in buckets],
            )

        return await read_through(self.db, days, stats)

    # --- A/B tests (#15 item 4) -----------------------------------------------------------

    async def ab_test_counts(
        self, link_id: str, since: int, event: str | None, sizes: list[int]
    ) -> dict[str, tuple[int, list[int]]]:
        """Per variant label: how many person visits (clicks that carry a click id) it had since
        `since`, up to `sizes[-1]`, and how many of its first `size` visitors converted, for
        each of `sizes` (ascending). A visitor converted when a conversion of `event` (of any
        event when None) names their click id. One bounded read, run when a test is evaluated,
        never per visit."""
        goal = "" if event is None else " AND v.event = :event"
        looks = ", ".join(
            f"SUM(CASE WHEN w.rn <= :s{i} THEN w.conv ELSE 0 END)" for i in range(len(sizes))
        )
        sql = f"""
            SELECT w.variant, COUNT(*), {looks}
            FROM (SELECT u.variant, u.rn,
                         CASE WHEN EXISTS (SELECT 1 FROM conversions v
                                           WHERE v.click_id = u.click_id
                                             AND v.link_id = :link{goal})
                              THEN 1 ELSE 0 END AS conv
                  FROM (SELECT c.variant, c.click_id,
                               ROW_NUMBER() OVER (PARTITION BY c.variant
                                                  ORDER BY c.ts, c.id) AS rn
                        FROM clicks c
                        WHERE c.link_id = :link AND c.ts >= :since AND c.bot = 0
                          AND c.variant IS NOT NULL AND c.click_id IS NOT NULL) u
                  WHERE u.rn <= :cap) w
            GROUP BY w.variant"""
        args: dict[str, Any] = {"link": link_id, "since": since, "event": event, "cap": sizes[-1]}
        args |= {f"s{i}": size for i, size in enumerate(sizes)}
        rows = await self._read(lambda q: q.all(sql, args))
        return {str(r[0]): (int(r[1]), [int(x or 0) for x in r[2:]]) for r in rows}

    async def swap_ab_test(
        self, link_id: str, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> bool:
        """Replace a link's A/B test state only if it is still `before` (so two processes that
        evaluate a test at once store one decision); whether it was replaced."""
        old, new = (
            None if v is None else json.dumps(v, separators=(",", ":")) for v in (before, after)
        )
        same = "ab_test IS NULL" if old is None else "ab_test = :old"
        return bool(
            await self._write(
                lambda q: q.run(
                    f"UPDATE links SET ab_test = :new WHERE id = :id AND {same}",
                    {"id": link_id, "old": old, "new": new},
                )
            )
        )

    async def running_ab_tests(self) -> list[tuple[str, str]]:
        """(workspace id, link id) of every live link whose A/B test is still running."""
        rows = await self._read(
            lambda q: q.all(
                "SELECT workspace_id, id, ab_test FROM links "
                "WHERE ab_test IS NOT NULL AND deleted_at IS NULL"
            )
        )
        return [
            (str(ws), str(link_id))
            for ws, link_id, state in rows
            if json.loads(state).get("status") == "running"
        ]


def rollup_rows(r: ConversionRecord) -> list[tuple[Any, ...]]:
    """The conversion_rollups increments of one conversion, in key order (so concurrent
    writers take the rows' locks in the same order): at every grain, for its link and for the
    workspace (link ''), the total (per event and currency, with the value) and its country,
    device and referrer; the workspace's per-link count; the link's variant. Only the totals
    keep the event and currency (analytics break events down for the whole selection only),
    so the breakdowns' rows are as few as the click rollups'."""
    slot = r.click_ts // SLOT * SLOT
    dims = [
        ("*", ""),
        ("country", r.country or "unknown"),
        ("device", r.device or "other"),
        ("referrer", r.referrer or "unknown"),
    ]
    keys: list[tuple[str, str, str]] = []
    for link in ("", r.link_id):
        keys += [(link, dim, key) for dim, key in dims]
    keys.append(("", "link", r.link_id))
    if r.variant is not None:
        keys.append((r.link_id, "variant", r.variant))
    rows = [
        (r.workspace_id, link, grain, dim, slot // grain * grain, key,
         *((r.event, r.currency or "", r.value or 0) if dim == "*" else ("", "", 0)))
        for grain in GRAINS
        for link, dim, key in keys
    ]  # fmt: skip
    return sorted(rows)


def _cached(days: SetDays | None, ranges: str, dim: str, cols: str) -> str:
    """The cached rows of a set's whole days (`ranges`: a condition on `s.day`) of one dim."""
    if days is None or not ranges:
        return ""
    return f"SELECT {cols} FROM set_days s WHERE {days.where(True)} AND s.dim {dim} AND ({ranges})"


def _union(*parts: str) -> str:
    return " UNION ALL ".join(p for p in parts if p) or "SELECT NULL AS k, 0 AS n WHERE 1 = 0"


def _by_external(q: Q, ws: str, event: str, external_id: str) -> ConversionRecord | None:
    row = q.one(
        f"""SELECT {", ".join("c." + c.strip() for c in _COLUMNS.split(","))}, l.code
            FROM conversions c JOIN links l ON l.id = c.link_id
            WHERE c.workspace_id = :ws AND c.event = :event AND c.external_id = :ext""",
        {"ws": ws, "event": event, "ext": external_id},
    )
    return None if row is None else _record(row)


def _record(row: Any) -> ConversionRecord:
    occurred, created = from_us(row[8]), from_us(row[9])
    assert occurred is not None and created is not None
    return ConversionRecord(
        id=row[0], workspace_id=row[1], link_id=row[2], click_id=row[3], event=row[4],
        value=row[5], currency=row[6], external_id=row[7], occurred_at=occurred,
        created_at=created, click_ts=int(row[10]), variant=row[11], country=row[12],
        device=row[13], referrer=row[14], code=row[15],
    )  # fmt: skip


def forget_conversions(q: Q, args: dict[str, Any]) -> None:
    """Take a link deleted for good (`args`: `ws`, `id`) out of the conversion rollups: the
    workspace's rows lose its conversions, its own rows go (its conversions went with it)."""
    q.run(
        """UPDATE conversion_rollups AS w
              SET conversions = w.conversions - l.conversions, revenue = w.revenue - l.revenue
             FROM conversion_rollups AS l
            WHERE l.workspace_id = :ws AND l.link_id = :id AND l.dim <> 'variant'
              AND w.workspace_id = :ws AND w.link_id = '' AND w.grain = l.grain
              AND w.dim = l.dim AND w.t = l.t AND w.key = l.key AND w.event = l.event
              AND w.currency = l.currency""",
        args,
    )
    q.run(
        "DELETE FROM conversion_rollups WHERE workspace_id = :ws AND link_id = '' "
        "AND dim = 'link' AND key = :id",
        args,
    )
    q.run("DELETE FROM conversion_rollups WHERE workspace_id = :ws AND link_id = :id", args)
