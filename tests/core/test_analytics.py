"""get_analytics computed from recorded clicks, checked against counts made here by hand."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import pytest

from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import InvalidInputError
from clypt_mcp.models import AnalyticsQuery, ClickEvent, LinkCreate, Principal
from clypt_mcp.store.base import Store
from tests.conftest import BASE_URL, FakeClock

pytestmark = pytest.mark.anyio

P = Principal(workspace_id="default")


@pytest.fixture
def svc(store: Store, clock: FakeClock) -> ClyptService:
    return ClyptService(store, base_url=BASE_URL, clock=clock)


async def _record(store: Store, events: list[ClickEvent]) -> None:
    recorder = ClickRecorder(store, batch_size=64, interval=0.01)
    async with anyio.create_task_group() as tg:
        tg.start_soon(recorder.run)
        for e in events:
            recorder.record(e)
        recorder.close()
    assert recorder.written == len(events)


def _events(link_ids: dict[str, str], now: datetime, n: int, seed: int) -> list[ClickEvent]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        code = rng.choice(list(link_ids))
        out.append(
            ClickEvent(
                link_id=link_ids[code],
                workspace_id="default",
                at=now - timedelta(minutes=rng.randrange(0, 60 * 24 * 10)),
                country=rng.choice(["US", "DE", "FR", "JP", None]),
                device=rng.choice(["desktop", "ios", "android"]),
                browser=rng.choice(["Chrome", "Firefox", "Safari"]),
                os=rng.choice(["Windows", "macOS", "iOS", "Android", "Linux"]),
                referrer=rng.choice(["news.ycombinator.com", "t.co", None]),
                visitor=f"v{rng.randrange(40)}",
                bot=rng.random() < 0.1,
            )
        )
    return out


async def test_breakdowns_and_timeseries_match_independent_counts(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    links = {}
    for code in ("alpha", "beta", "gamma"):
        made = await svc.create_link(P, LinkCreate(url=f"https://e.com/{code}", code=code))
        links[code] = made.id
    events = sorted(_events(links, clock.now, 600, seed=7), key=lambda e: e.at)  # as they happen
    await _record(store, events)

    report = await svc.get_analytics(P, AnalyticsQuery(period="7d", top=50))
    # the window covers whole days: from the midnight before now-7d to the one after now
    start, end = report.query.start, report.query.end
    assert start == datetime(2026, 3, 3, tzinfo=UTC) and end == datetime(2026, 3, 11, tzinfo=UTC)
    humans = [e for e in events if not e.bot]
    in_period = [e for e in humans if start <= e.at < end]
    assert report.total_clicks == len(humans)
    assert report.clicks_in_period == len(in_period)
    # visitor hashes rotate daily: a visitor counts once per UTC day, in the bucket of the
    # first visit that day
    first_visit: dict[tuple[str | None, int], datetime] = {}
    for e in sorted(humans, key=lambda ev: ev.at):
        first_visit.setdefault((e.visitor, int(e.at.timestamp()) // 86400), e.at)
    assert report.unique_visitors == sum(1 for at in first_visit.values() if start <= at < end)
    assert report.query.interval == "day"
    assert sum(b.clicks for b in report.timeseries) == len(in_period)
    by_day = Counter(e.at.replace(hour=0, minute=0, second=0, microsecond=0) for e in in_period)
    assert {b.t: b.clicks for b in report.timeseries if b.clicks} == dict(by_day)

    def expect(attr: str) -> dict[str, int]:
        return dict(Counter(getattr(e, attr) or "unknown" for e in in_period))

    assert {c.key: c.clicks for c in report.countries} == expect("country")
    assert {c.key: c.clicks for c in report.devices} == expect("device")
    assert {c.key: c.clicks for c in report.browsers} == expect("browser")
    assert {c.key: c.clicks for c in report.os} == expect("os")
    assert {c.key: c.clicks for c in report.referrers} == expect("referrer")
    code_of = {v: k for k, v in links.items()}
    assert {c.key: c.clicks for c in report.links} == dict(
        Counter(code_of[e.link_id] for e in in_period)
    )

    one = await svc.get_analytics(P, AnalyticsQuery(link="beta", period="30d"))
    assert one.clicks_in_period == sum(1 for e in humans if e.link_id == links["beta"])
    listed = await svc.get_link(P, "beta")
    assert listed.clicks == one.total_clicks


async def test_top_n_keeps_the_rest_as_other(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    made = await svc.create_link(P, LinkCreate(url="https://e.com/x"))
    countries = ["US"] * 5 + ["DE"] * 4 + ["FR"] * 3 + ["JP"] * 2 + ["BR"]
    await _record(
        store,
        [
            ClickEvent(
                link_id=made.id,
                workspace_id="default",
                at=clock.now - timedelta(minutes=1),
                country=c,
            )
            for c in countries
        ],
    )
    report = await svc.get_analytics(P, AnalyticsQuery(period="24h", top=2))
    assert [(c.key, c.clicks) for c in report.countries] == [("US", 5), ("DE", 4), ("other", 6)]


async def test_day_boundaries_follow_the_requested_timezone(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    made = await svc.create_link(P, LinkCreate(url="https://e.com/tz"))
    # 2026-03-10 03:30 UTC is still 2026-03-09 in New York (UTC-4 after the DST change)
    at = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    await _record(store, [ClickEvent(link_id=made.id, workspace_id="default", at=at)])
    utc = await svc.get_analytics(P, AnalyticsQuery(period="7d", interval="day"))
    ny = await svc.get_analytics(
        P, AnalyticsQuery(period="7d", interval="day", timezone="America/New_York")
    )
    assert [b.t.date().isoformat() for b in utc.timeseries if b.clicks] == ["2026-03-10"]
    busy = [b.t for b in ny.timeseries if b.clicks]
    assert [t.date().isoformat() for t in busy] == ["2026-03-09"]
    assert busy[0].tzinfo is not None
    assert busy[0].utcoffset() == ZoneInfo("America/New_York").utcoffset(
        busy[0].replace(tzinfo=None)
    )


async def test_bots_are_left_out_unless_asked_for(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    made = await svc.create_link(P, LinkCreate(url="https://e.com/b"))
    await _record(
        store,
        [
            ClickEvent(
                link_id=made.id,
                workspace_id="default",
                at=clock.now - timedelta(minutes=1),
                bot=bot,
            )
            for bot in (True, True, False)
        ],
    )
    assert (await svc.get_analytics(P, AnalyticsQuery())).clicks_in_period == 1
    with_bots = await svc.get_analytics(P, AnalyticsQuery(include_bots=True))
    assert with_bots.clicks_in_period == 3 and with_bots.query.bots_included


async def test_too_many_points_is_refused(svc: ClyptService) -> None:
    with pytest.raises(InvalidInputError) as err:
        await svc.get_analytics(P, AnalyticsQuery(period="90d", interval="hour"))
    assert "larger interval" in err.value.message


async def test_folder_analytics_include_subfolders_and_other_workspaces_stay_apart(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    a = await svc.create_link(P, LinkCreate(url="https://e.com/a", folder="Mkt/2026"))
    b = await svc.create_link(P, LinkCreate(url="https://e.com/b", folder="Mkt"))
    c = await svc.create_link(P, LinkCreate(url="https://e.com/c"))
    other = Principal(workspace_id="other")
    d = await svc.create_link(other, LinkCreate(url="https://e.com/d"))
    events = [
        ClickEvent(link_id=link.id, workspace_id=ws, at=clock.now - timedelta(seconds=5))
        for link, ws in ((a, "default"), (b, "default"), (c, "default"), (d, "other"))
    ]
    await _record(store, events)
    assert (await svc.get_analytics(P, AnalyticsQuery(folder="Mkt"))).clicks_in_period == 2
    assert (await svc.get_analytics(P, AnalyticsQuery())).clicks_in_period == 3
    assert (await svc.get_analytics(other, AnalyticsQuery())).clicks_in_period == 1


async def test_a_link_deleted_for_good_leaves_the_workspace_totals(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    keep = await svc.create_link(P, LinkCreate(url="https://e.com/keep"))
    gone = await svc.create_link(P, LinkCreate(url="https://e.com/gone"))
    at = clock.now - timedelta(hours=1)
    await _record(
        store,
        [ClickEvent(link_id=link.id, workspace_id="default", at=at, country="US")
         for link in (keep, gone, gone)],
    )  # fmt: skip
    before = await svc.get_analytics(P, AnalyticsQuery())
    assert before.clicks_in_period == 3 and before.total_clicks == 3
    await svc.delete_link(P, gone.code, permanent=True)
    after = await svc.get_analytics(P, AnalyticsQuery())
    assert after.clicks_in_period == 1 and after.total_clicks == 1
    assert [(c.key, c.clicks) for c in after.countries] == [("US", 1)]
    assert [(c.key, c.clicks) for c in after.links] == [(keep.code, 1)]


async def test_previous_period_and_change(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    made = await svc.create_link(P, LinkCreate(url="https://e.com/prev"))
    this_week = [clock.now - timedelta(days=d, hours=1) for d in range(0, 6)]  # 6 clicks
    last_week = [clock.now - timedelta(days=d, hours=1) for d in range(9, 13)]  # 4 clicks
    await _record(
        store,
        [ClickEvent(link_id=made.id, workspace_id="default", at=at, visitor=f"v{i}")
         for i, at in enumerate(last_week + this_week)],
    )  # fmt: skip
    report = await svc.get_analytics(P, AnalyticsQuery(period="7d", interval="day"))
    assert report.clicks_in_period == 6
    assert report.previous.clicks == 4
    assert report.clicks_change_percent == 50.0
    assert report.previous.end == report.query.start
    assert len(report.previous.timeseries) == len(report.timeseries)
    assert sum(b.clicks for b in report.previous.timeseries) == 4
    quiet = await svc.get_analytics(
        P, AnalyticsQuery(period="24h", end=clock.now - timedelta(days=40))
    )
    assert quiet.clicks_change_percent is None


async def test_clicks_of_a_link_deleted_for_good_do_not_sink_their_batch(
    svc: ClyptService, store: Store, clock: FakeClock
) -> None:
    keep = await svc.create_link(P, LinkCreate(url="https://e.com/stay"))
    gone = await svc.create_link(P, LinkCreate(url="https://e.com/went"))
    await svc.delete_link(P, gone.code, permanent=True)
    at = clock.now - timedelta(minutes=5)
    await store.record_clicks(
        [ClickEvent(link_id=link.id, workspace_id="default", at=at) for link in (keep, gone, keep)]
    )
    assert (await svc.get_link(P, keep.code)).clicks == 2
    assert (await svc.get_analytics(P, AnalyticsQuery())).clicks_in_period == 2
