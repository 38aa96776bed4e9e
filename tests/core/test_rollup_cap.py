"""Rollup keys that visitors choose are capped per bucket: a flood of made-up Referers folds
into `other` at housekeeping, and analytics still add up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from clypt_mcp.core.housekeeping import Housekeeping
from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import AnalyticsQuery, ClickEvent, LinkCreate, Principal
from clypt_mcp.store.base import ROLLUP_KEYS, Store
from tests.conftest import BASE_URL, FakeClock

pytestmark = pytest.mark.anyio
P = Principal(workspace_id="default")


async def test_a_flood_of_referrers_folds_into_other(store: Store, clock: FakeClock) -> None:
    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    link = await service.create_link(P, LinkCreate(url="https://example.com/"))
    flood = ROLLUP_KEYS + 50
    events = [
        ClickEvent(
            link_id=link.id,
            workspace_id="default",
            at=clock.now - timedelta(minutes=5, seconds=i % 50),
            referrer=f"r{i}.example" if i < flood else "news.example",
            visitor=f"v{i}",
        )
        for i in range(flood + 30)
    ]
    await store.record_clicks(events)
    clock.advance(minutes=15)
    query = AnalyticsQuery(link=link.code, period="24h", top=5)
    before = await service.get_analytics(P, query)
    rows_before = await store.count_rows("rollups")

    done = await Housekeeping(store, clock=clock).sweep()

    assert done["rollup keys"] > 0
    assert await store.count_rows("rollups") < rows_before
    after = await service.get_analytics(P, query)
    assert after.clicks_in_period == before.clicks_in_period == flood + 30
    assert sum(c.clicks for c in after.referrers) == flood + 30
    assert {c.key: c.clicks for c in after.referrers}["news.example"] == 30
    assert [c.key for c in after.referrers].count("other") == 1
    assert (await Housekeeping(store, clock=clock).sweep())["rollup keys"] == 0


Row = dict[str, Any]


async def _rows(store: Store, keep: Callable[[Row], bool]) -> int:
    """Rollup rows `keep` is true of, as the store holds them."""
    cols = ["workspace_id", "link_id", "grain", "dim", "t", "key", "bot", "clicks"]
    table = await store.dump_table("rollups", None, 1_000_000)
    return sum(1 for r in table if keep(dict(zip(cols, r[:8], strict=True))))


async def test_rollups_follow_the_click_retention(store: Store, clock: FakeClock) -> None:
    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    link = await service.create_link(P, LinkCreate(url="https://example.com/"))
    # 40 days ago and 2 days ago: 60 clicks each, with made-up Referers and agents
    events = [
        ClickEvent(
            link_id=link.id,
            workspace_id="default",
            at=clock.now - timedelta(days=days, minutes=i),
            referrer=f"r{i}.example",
            browser=f"B{i % 7}",
            country="DE",
            visitor=f"v{i}",
        )
        for days in (40, 2)
        for i in range(60)
    ]
    await store.record_clicks(events)
    old_day = AnalyticsQuery(
        link=link.code,
        start=(clock.now - timedelta(days=41)).date(),
        end=(clock.now - timedelta(days=39)).date(),
        top=50,
    )
    before = await service.get_analytics(P, old_day)
    old = int((clock.now - timedelta(days=30)).timestamp())

    def fine_old(r: Row) -> bool:
        return r["grain"] < 86400 and r["dim"] in ("referrer", "browser") and r["t"] < old

    assert await _rows(store, lambda r: fine_old(r) and r["key"] != "other") > 100

    done = await Housekeeping(store, click_retention_days=30, clock=clock).sweep()

    assert done["rollup detail"] > 100
    # the quarter-hour and hour buckets older than 30 days keep only `other`
    assert await _rows(store, lambda r: fine_old(r) and r["key"] != "other") == 0
    assert await _rows(store, lambda r: fine_old(r) and r["key"] == "other") > 0

    def kept(grain: int, dim: str, newer: bool) -> Callable[[Row], bool]:
        return lambda r: r["grain"] == grain and r["dim"] == dim and (r["t"] >= old) == newer

    # newer buckets keep their keys; day buckets keep theirs; countries stay (rows of the
    # link and of the whole workspace: 2 x 60)
    assert await _rows(store, kept(900, "referrer", True)) == 120
    assert await _rows(store, kept(86400, "referrer", False)) == 120
    assert await _rows(store, kept(900, "country", False)) > 0
    # whole days of the old period read as before: totals, uniques and referrers
    after = await service.get_analytics(P, old_day)
    assert after.clicks_in_period == before.clicks_in_period == 60
    assert after.unique_visitors == before.unique_visitors
    assert {c.key: c.clicks for c in after.referrers} == {c.key: c.clicks for c in before.referrers}
    # and the hour-by-hour view of an old day still adds up, under `other`
    edge = AnalyticsQuery(
        link=link.code,
        start=clock.now - timedelta(days=40, hours=2),
        end=clock.now - timedelta(days=40) + timedelta(minutes=1),
        top=50,
    )
    hours = await service.get_analytics(P, edge)
    assert sum(c.clicks for c in hours.referrers) == hours.clicks_in_period == 60
    assert (await Housekeeping(store, click_retention_days=30, clock=clock).sweep())[
        "rollup detail"
    ] == 0
