"""Property-based: over random click sets, time zones and periods, every breakdown and the
time series equal counts made here from the raw clicks, day boundaries included.

Hypothesis runs in a worker thread and calls back into the event loop; each example gets a
workspace of its own in one store, so no example sees another's clicks.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import AnalyticsQuery, ClickEvent, LinkCreate, Principal
from clypt_mcp.store.base import Store
from tests.conftest import BASE_URL, FakeClock

pytestmark = pytest.mark.anyio

ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Europe/Paris"]
CLICK = st.tuples(
    st.integers(min_value=0, max_value=40 * 24 * 60),  # minutes before now
    st.integers(min_value=0, max_value=2),  # which link
    st.sampled_from(["US", "DE", "IN", None]),
    st.sampled_from(["desktop", "ios", "android"]),
    st.booleans(),  # bot
    st.integers(min_value=0, max_value=6),  # visitor
)
QUERY = st.tuples(
    st.sampled_from(ZONES),
    st.sampled_from([("24h", "hour"), ("7d", "day"), ("30d", "day"), ("7d", "hour")]),
    st.booleans(),  # include bots
)


def _local_key(at: datetime, tz: ZoneInfo, interval: str) -> tuple[Any, ...]:
    local = at.astimezone(tz)
    return (local.date(), local.hour) if interval == "hour" else (local.date(),)


async def test_breakdowns_and_series_match_the_raw_clicks(store: Store, clock: FakeClock) -> None:
    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    counter = itertools.count()

    async def check(clicks: list[tuple[Any, ...]], query: tuple[Any, ...]) -> None:
        zone, (period, interval), bots = query
        principal = Principal(workspace_id=f"prop{next(counter)}")
        links = [
            await service.create_link(principal, LinkCreate(url=f"https://e.com/{i}"))
            for i in range(3)
        ]
        events = [
            ClickEvent(
                link_id=links[li].id, workspace_id=principal.workspace_id,
                at=(clock.now - timedelta(minutes=minutes)).replace(second=7),
                country=country, device=device, bot=bot, visitor=f"v{visitor}",
            )
            for minutes, li, country, device, bot, visitor in clicks
        ]  # fmt: skip
        await store.record_clicks(sorted(events, key=lambda e: e.at))
        report = await service.get_analytics(
            principal,
            AnalyticsQuery(period=period, interval=interval, timezone=zone, include_bots=bots,
                           top=50),
        )  # fmt: skip
        tz = ZoneInfo(zone)
        start, end = report.query.start, report.query.end
        # the window covers the period and starts on a local bucket boundary
        assert start <= clock.now - {"24h": timedelta(hours=24), "7d": timedelta(days=7),
                                     "30d": timedelta(days=30)}[period]  # fmt: skip
        assert end >= clock.now
        local_start = start.astimezone(tz)
        assert local_start.minute == 0 and (interval == "hour" or local_start.hour == 0)
        counted = [e for e in events if (bots or not e.bot) and start <= e.at < end]
        assert report.clicks_in_period == len(counted)
        assert report.total_clicks == sum(1 for e in events if bots or not e.bot)
        assert {c.key: c.clicks for c in report.countries} == dict(
            Counter(e.country or "unknown" for e in counted)
        )
        assert {c.key: c.clicks for c in report.devices} == dict(Counter(e.device for e in counted))
        codes = {link.id: link.code for link in links}
        assert {c.key: c.clicks for c in report.links} == dict(
            Counter(codes[e.link_id] for e in counted)
        )
        series = Counter(_local_key(e.at, tz, interval) for e in counted)
        got = {_local_key(b.t, tz, interval): b.clicks for b in report.timeseries if b.clicks}
        assert got == dict(series)
        assert sum(b.clicks for b in report.timeseries) == len(counted)

    @settings(max_examples=40, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(clicks=st.lists(CLICK, max_size=60), query=QUERY)
    def run(clicks: list[tuple[Any, ...]], query: tuple[Any, ...]) -> None:
        anyio.from_thread.run(check, clicks, query)

    with anyio.fail_after(240):
        await anyio.to_thread.run_sync(run)
    assert next(counter) >= 40  # every example ran its check
