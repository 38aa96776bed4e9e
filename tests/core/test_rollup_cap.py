"""Rollup keys that visitors choose are capped per bucket: a flood of made-up Referers folds
into `other` at housekeeping, and analytics still add up."""

from __future__ import annotations

from datetime import timedelta

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
