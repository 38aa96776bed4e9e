"""Conversions (#15) on either database: the click a click id names, and the one write path
that stores a conversion, dedupes it by external id and counts it in `conversion_rollups`."""

from __future__ import annotations

from typing import Any

from clypt_mcp.store.base import (
    EPOCH,
    SLOT,
    ClickRecord,
    ConversionRecord,
    ConversionStats,
    LinkFilter,
    from_us,
    to_us,
)
from clypt_mcp.store.links import link_where
from clypt_mcp.store.sql import Aggregate, Q

_COLUMNS = (
    "id, workspace_id, link_id, click_id, event, value, currency, external_id, occurred_at, "
    "created_at, click_ts, variant, country, device, referrer"
)
_UPSERT_ROLLUPS = """INSERT INTO conversion_rollups
        (workspace_id, link_id, t, dim, key, event, currency, conversions, revenue)
    VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)
    ON CONFLICT (workspace_id, link_id, dim, t, key, event, currency)
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
            return r, True

        return await self._write(job)

    async def conversion_stats(
        self, flt: LinkFilter, start: int, end: int, unit: int = SLOT
    ) -> ConversionStats:
        whole = flt.link_id is None and not (flt.tag or flt.folder_ids or flt.query)
        args: dict[str, Any]
        if whole:
            where, args = "r.workspace_id = :ws", {"ws": flt.workspace_id}
        else:
            link_sql, args = link_where(self.db.dialect, flt, EPOCH, include_deleted=True)
            where = (
                f"r.workspace_id = :ws AND r.link_id IN (SELECT l.id FROM links l WHERE {link_sql})"
            )
        where += " AND r.t >= :_s AND r.t < :_e"
        args = {**args, "_s": start // SLOT * SLOT, "_e": end}

        def job(q: Q) -> ConversionStats:
            events = q.all(
                f"""SELECT r.event, r.currency, SUM(r.conversions), SUM(r.revenue)
                    FROM conversion_rollups r WHERE {where} AND r.dim = '*'
                    GROUP BY r.event, r.currency ORDER BY r.event, r.currency""",
                args,
            )
            breakdowns: dict[str, dict[str, int]] = {}
            for dim, key, n in q.all(
                f"""SELECT r.dim, r.key, SUM(r.conversions) FROM conversion_rollups r
                    WHERE {where} AND r.dim <> '*' GROUP BY r.dim, r.key""",
                args,
            ):
                breakdowns.setdefault(dim, {})[key] = int(n)
            by_link = q.all(
                f"""SELECT l.code, SUM(r.conversions) FROM conversion_rollups r
                    JOIN links l ON l.id = r.link_id
                    WHERE {where} AND r.dim = '*' GROUP BY l.code""",
                args,
            )
            breakdowns["link"] = {code: int(n) for code, n in by_link}
            buckets = q.all(
                f"""SELECT (r.t / {int(unit)}) * {int(unit)} AS k, SUM(r.conversions)
                    FROM conversion_rollups r WHERE {where} AND r.dim = '*'
                    GROUP BY k ORDER BY k""",
                args,
            )
            return ConversionStats(
                by_event=[(e, c, int(n), int(v)) for e, c, n, v in events],
                breakdowns=breakdowns,
                buckets=[(int(k), int(n)) for k, n in buckets],
            )

        return await self._read(job)


def rollup_rows(r: ConversionRecord) -> list[tuple[Any, ...]]:
    """The conversion_rollups increments of one conversion, in key order (so concurrent
    writers take the rows' locks in the same order)."""
    slot = r.click_ts // SLOT * SLOT
    keys = [
        ("*", ""),
        ("country", r.country or "unknown"),
        ("device", r.device or "other"),
        ("referrer", r.referrer or "unknown"),
    ]
    if r.variant is not None:
        keys.append(("variant", r.variant))
    rows = [
        (r.workspace_id, r.link_id, slot, dim, key, r.event, r.currency or "", r.value or 0)
        for dim, key in keys
    ]
    return sorted(rows)


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
