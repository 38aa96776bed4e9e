"""Analytics: clicks over time and by dimension, raw clicks for exports, their purge."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from clypt_mcp.core import analytics as analytics_rules
from clypt_mcp.core.areas.base import ServiceBase, variant_labels
from clypt_mcp.core.clicks import fold_old_rollups
from clypt_mcp.core.clicks import purge_clicks as purge_raw_clicks
from clypt_mcp.errors import InvalidInputError
from clypt_mcp.models import (
    Analytics,
    AnalyticsQuery,
    ClickEntry,
    ClickExport,
    ClickLog,
    ClickQuery,
    Principal,
    Scope,
)
from clypt_mcp.store.base import LOG_COLUMNS, SLOT, ClickFilter, LinkFilter


class AnalyticsArea(ServiceBase):
    """Analytics: clicks over time and by dimension, raw clicks for exports, their purge."""

    async def get_analytics(self, principal: Principal, query: AnalyticsQuery) -> Analytics:
        """Clicks for one link, a tag, a folder or the whole workspace.

        Raises: NotFoundError, InvalidInputError.
        """
        self.require(principal, Scope.ANALYTICS_READ)
        tz = analytics_rules.zone(query.timezone)
        ws = principal.workspace_id
        flt = LinkFilter(workspace_id=ws, tag=query.tag)
        if query.link:
            flt.link_id = (await self._record(principal, query.link)).id
        if query.folder:
            flt.folder_ids = await self.folder_ids_under(principal, query.folder)
        now = self.clock()
        first = None
        if query.period == "all" and query.start is None:
            probe = await self.store.click_stats(flt, 0, SLOT, True, 1, want_first=True)
            if probe.first_bucket is not None:
                first = datetime.fromtimestamp(probe.first_bucket, UTC)
        try:
            start, end = analytics_rules.window(query, now, first)
            interval = query.interval or analytics_rules.auto_interval(start, end)
            start, end = analytics_rules.snap(start, end, interval, tz)
            analytics_rules.buckets(start, end, interval, tz)  # rejects too many points early
            unit = analytics_rules.series_unit(start, end, tz, interval)
            analytics_rules.previous_window(start, end, interval, tz)
        except (OverflowError, ValueError):  # dates at the end of the calendar
            raise InvalidInputError(
                "start/end: the period runs past the last date that can be counted — give an "
                "end before 9999-01-01",
                field="end",
            ) from None
        stats = await self.store.click_stats(
            flt, int(start.timestamp()), int(end.timestamp()), query.include_bots, query.top, unit
        )
        prev_start, prev_end = analytics_rules.previous_window(start, end, interval, tz)
        prev = await self.store.click_stats(
            flt, int(prev_start.timestamp()), int(prev_end.timestamp()), query.include_bots, 1,
            analytics_rules.series_unit(prev_start, prev_end, tz, interval),
        )  # fmt: skip
        top_links = [code for code, _ in stats.breakdowns.get("link", [])]
        conv = await self.store.conversion_stats(
            flt, int(start.timestamp()), int(end.timestamp()), unit, top_links
        )
        prev_conv = await self.store.conversion_stats(
            flt, int(prev_start.timestamp()), int(prev_end.timestamp()),
            analytics_rules.series_unit(prev_start, prev_end, tz, interval), [],
        )  # fmt: skip
        variants = None
        ab_result = None
        if flt.link_id is not None:
            rec = await self._record(principal, flt.link_id)
            variants = variant_labels(rec)
            if rec.ab_test is not None:
                ab_result = await self._ab_result(rec)
        answer = analytics_rules.build(
            query, stats, (start, end), interval, tz, (prev, prev_start, prev_end),
            cities=self.geo_cities, variants=variants, conversions=(conv, prev_conv),
        )  # fmt: skip
        if ab_result is not None:
            answer.ab_test = ab_result
            figures = {v.label: v for v in ab_result.variants}
            for entry in answer.variants:
                entry.ab_test = figures.get(entry.label)
        return answer

    async def list_clicks(self, principal: Principal, query: ClickQuery) -> ClickLog:
        """The click log: one page of raw clicks, newest first.

        Raises: NotFoundError, InvalidInputError.
        """
        self.require(principal, Scope.ANALYTICS_READ)
        flt = await self.click_filter(principal, query)
        before = None if query.cursor is None else _decode_click_cursor(query.cursor)
        rows = await self.store.click_log(flt, before, query.limit + 1)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        clicks = [
            ClickEntry(id=str(r["id"]), time=datetime.fromtimestamp(int(r["ts"]), UTC),
                       **{k: r[k] for k in LOG_COLUMNS[2:]})
            for r in rows
        ]  # fmt: skip
        cursor = None
        if more and rows:
            raw = json.dumps(["clicks", int(rows[-1]["ts"]), int(rows[-1]["id"])])
            cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        return ClickLog(clicks=clicks, next_cursor=cursor)

    async def click_filter(
        self, principal: Principal, query: ClickQuery | ClickExport
    ) -> ClickFilter:
        """The clicks a click-log selection names (its link and folder looked up).

        Raises: NotFoundError.
        """
        links = LinkFilter(workspace_id=principal.workspace_id, tag=query.tag)
        if query.link:
            links.link_id = (await self._record(principal, query.link)).id
        if query.folder:
            links.folder_ids = await self.folder_ids_under(principal, query.folder)
        return ClickFilter(
            links,
            start=None if query.start is None else int(query.start.timestamp()),
            end=None if query.end is None else int(query.end.timestamp()),
            country=query.country, device=query.device, traffic=query.traffic,
            variant=query.variant,
        )  # fmt: skip

    async def count_raw_clicks(
        self, principal: Principal, link_id: str | None, since_ts: int | None
    ) -> int:
        """How many raw clicks `raw_clicks` would page through."""
        self.require(principal, Scope.ANALYTICS_READ)
        return await self.store.count_clicks(principal.workspace_id, link_id, since_ts)

    async def raw_clicks(
        self,
        principal: Principal,
        link_id: str | None,
        since_ts: int | None,
        after: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        """One page of raw clicks (oldest first) after the click id `after`."""
        self.require(principal, Scope.ANALYTICS_READ)
        return await self.store.click_page(principal.workspace_id, link_id, since_ts, after, limit)

    async def purge_clicks(self, before: datetime) -> int:
        """An admin act (CLI): drop raw clicks older than `before`, and fold the hour and
        quarter-hour detail of visitor-chosen keys older than that; analytics stay."""
        n = await purge_raw_clicks(self.store, before)
        await fold_old_rollups(self.store, before)
        return n


def _decode_click_cursor(cursor: str) -> tuple[int, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, ts, click_id = json.loads(base64.urlsafe_b64decode(padded))
        ok = kind == "clicks" and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62
            for v in (ts, click_id)
        )
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise InvalidInputError(
            "cursor: not a cursor from list_clicks — pass next_cursor unchanged, or omit it",
            field="cursor",
        )
    return ts, click_id
