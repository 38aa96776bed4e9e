"""Housekeeping: old raw clicks go (analytics, counters and visitor marks stay), and so
do idempotency keys after a day and request counters of long-past windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder, purge_clicks
from clypt_mcp.core.housekeeping import Housekeeping
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.models import AnalyticsQuery, ClickEvent, LinkCreate, LinkQuery, Principal
from clypt_mcp.store.base import Store
from tests.conftest import BASE_URL, FakeClock

pytestmark = pytest.mark.anyio

P = Principal(workspace_id="default")
OTHER = Principal(workspace_id="other")


@pytest.fixture
def svc(store: Store, clock: FakeClock) -> ClyptService:
    return ClyptService(store, base_url=BASE_URL, clock=clock)


async def _record(store: Store, events: list[ClickEvent]) -> None:
    recorder = ClickRecorder(store, interval=0.01)
    for e in events:
        recorder.record(e)
    recorder.close()
    await recorder.run()


async def _clicks_by_age(svc: ClyptService, store: Store, clock: FakeClock) -> list[ClickEvent]:
    """Clicks 1, 10, 40 and 100 days old on two links, in two workspaces."""
    a = await svc.create_link(P, LinkCreate(url="https://e.com/a"))
    b = await svc.create_link(OTHER, LinkCreate(url="https://e.com/b"))
    events = [
        ClickEvent(
            link_id=link.id,
            workspace_id=ws.workspace_id,
            at=clock.now - timedelta(days=age),
            country="DE",
            visitor=f"v{age}",
        )
        for link, ws in ((a, P), (b, OTHER))
        for age in (1, 10, 40, 100)
    ]
    await _record(store, events)
    return events


async def test_purge_keeps_the_newer_clicks_in_every_workspace_and_analytics_whole(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    await _clicks_by_age(svc, store, clock)
    query = AnalyticsQuery(period="all", interval="month")
    before = {p.workspace_id: await svc.get_analytics(p, query) for p in (P, OTHER)}
    links_before = (await svc.list_links(P, LinkQuery())).links
    marks_before = await store.count_rows("visitor_days")

    deleted = await purge_clicks(store, clock.now - timedelta(days=30))

    for p in (P, OTHER):
        assert await store.count_clicks(p.workspace_id, None, None) == 2
        assert await store.count_clicks(p.workspace_id, None, None) == await store.count_clicks(
            p.workspace_id, None, int((clock.now - timedelta(days=30)).timestamp())
        )
        after = await svc.get_analytics(p, query)
        assert after == before[p.workspace_id]
    assert [(x.code, x.clicks) for x in (await svc.list_links(P, LinkQuery())).links] == [
        (x.code, x.clicks) for x in links_before
    ]
    # 4 raw clicks; the visitor marks stay (uniques of any set of links are counted from them)
    assert await store.count_rows("visitor_days") == marks_before
    assert deleted == 4
    assert await purge_clicks(store, clock.now - timedelta(days=30)) == 0


async def test_purge_works_in_chunks_and_deletes_nothing_newer(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    events = await _clicks_by_age(svc, store, clock)
    cutoff = int((clock.now - timedelta(days=5)).timestamp())
    assert await store.purge_clicks(cutoff, 2) == 2  # at most `limit` rows a call
    assert await purge_clicks(store, clock.now - timedelta(days=5), chunk=1) > 0
    for p in (P, OTHER):
        assert await store.count_clicks(p.workspace_id, None, None) == 1
    newest = [e for e in events if e.at > clock.now - timedelta(days=5)]
    rows = await store.click_page("default", None, None, 0, 100)
    assert [r["ts"] for r in rows] == [e.ts for e in newest if e.workspace_id == "default"]


class WatchedStore:
    """The real store; `done` is set when a purge call finds less than it may delete."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.done = anyio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def purge_clicks(self, before: int, limit: int) -> int:
        n = await self.store.purge_clicks(before, limit)
        if n < limit:
            self.done.set()
        return n


async def test_retention_purges_at_start_and_stops_on_close(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    await _clicks_by_age(svc, store, clock)
    watched = WatchedStore(store)
    retention = Housekeeping(watched, click_retention_days=30, every=3600, clock=clock)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(retention.run)
            await watched.done.wait()
            retention.close()  # ends the hour-long wait at once
    assert retention.purged["clicks"] == 4
    assert await store.count_clicks("default", None, None) == 2


async def test_served_app_applies_clypt_click_retention_days(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    await _clicks_by_age(svc, store, clock)
    watched = WatchedStore(store)
    service = ClyptService(watched, base_url=BASE_URL, clock=clock)
    app = create_app(
        service,
        Settings(click_retention_days=7),
        with_mcp=False,
        store=service.store,
        clock=service.clock,
    )
    with anyio.fail_after(10):
        async with app.main.router.lifespan_context(app.main):
            await watched.done.wait()
    # the app's retention runs on the wall clock, months after the fake clock's March 2026
    assert clock.now < datetime.now(UTC) - timedelta(days=8)
    assert await store.count_clicks("default", None, None) == 0
    assert await store.count_clicks("other", None, None) == 0
    assert (await svc.get_analytics(P, AnalyticsQuery(period="all"))).clicks_in_period == 4


async def test_housekeeping_forgets_idempotency_keys_after_a_day(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    old = await svc.create_link(P, LinkCreate(url="https://e.com/old"), idempotency_key="k-old")
    clock.advance(hours=23)
    new = await svc.create_link(P, LinkCreate(url="https://e.com/new"), idempotency_key="k-new")
    clock.advance(hours=2)  # k-old is 25 hours old, k-new 2
    done = await Housekeeping(store, clock=clock).sweep()
    # one key is two rows (core.idempotency: the claim and the answer), both of k-old's go
    assert done["idempotency"] == 2 and "clicks" not in done
    again = await svc.create_link(P, LinkCreate(url="https://e.com/new"), idempotency_key="k-new")
    assert again.id == new.id  # still remembered: the first result, no duplicate
    fresh = await svc.create_link(P, LinkCreate(url="https://e.com/old"), idempotency_key="k-old")
    assert fresh.id != old.id  # forgotten after a day: a new link
    assert (await Housekeeping(store, clock=clock).sweep())["idempotency"] == 0


async def test_housekeeping_drops_request_counters_of_long_past_windows(
    store: Store, clock: FakeClock
) -> None:
    now = int(clock.now.timestamp())
    hour = now // 3600 * 3600
    await store.count_request("key-a", hour - 2 * 86400, 10)  # two days ago
    await store.count_request("key-b", hour - 3600, 10)  # an hour ago: may still be in use
    await store.count_request("key-c", now // 60 * 60, 10)  # this minute
    done = await Housekeeping(store, clock=clock).sweep()
    assert done["counters"] == 1
    assert await store.request_count("key-a", hour - 2 * 86400) == 0
    assert await store.request_count("key-b", hour - 3600) == 1
    assert await store.request_count("key-c", now // 60 * 60) == 1
