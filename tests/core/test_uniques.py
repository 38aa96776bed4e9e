"""Unique visitors of any set of links are exact: for random click plans over links in nested
folders and tags, from several visitors over several UTC days, `unique_visitors` equals the
distinct (visitor, day) pairs of the set, for every filter, on both stores; the same after the
retention purge of the older days, and after a link of the set is deleted for good.

Hypothesis runs in a worker thread and calls back into the event loop; each example gets a
workspace of its own in one store.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clypt_mcp.core.clicks import purge_clicks
from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import AnalyticsQuery, ClickEvent, Link, LinkCreate, Principal
from clypt_mcp.store.base import Store
from tests.conftest import BASE_URL, FakeClock

pytestmark = pytest.mark.anyio

# (folder, tags) of each link: A holds A/B, so A's set is links 0-2.
LINKS: list[tuple[str | None, list[str]]] = [
    ("A", ["t1"]),
    ("A/B", ["t1", "t2"]),
    ("A/B", []),
    ("C", ["t2"]),
    (None, ["t1"]),
    (None, []),
]
CLICK = st.tuples(
    st.integers(min_value=0, max_value=4),  # days before today
    st.integers(min_value=0, max_value=700),  # minute of that day
    st.integers(min_value=0, max_value=len(LINKS) - 1),
    st.integers(min_value=0, max_value=5),  # visitor
    st.booleans(),  # a crawler (never a unique visitor)
)
FILTERS: list[dict[str, str]] = [
    {},
    {"folder": "A"},
    {"folder": "A/B"},
    {"folder": "C"},
    {"tag": "t1"},
    {"tag": "t2"},
]


def _expected(events: list[ClickEvent], members: set[str], start: datetime, end: datetime) -> int:
    return len(
        {
            (e.visitor, e.ts // 86400)
            for e in events
            if not e.bot and e.link_id in members and start <= e.at < end
        }
    )


def _expected_cut(
    events: list[ClickEvent], members: set[str], start: datetime, end: datetime
) -> int:
    """For a window that cuts UTC days: a (visitor, day) counts when its first visit to the
    set that day falls inside the window."""
    first: dict[tuple[str | None, int], datetime] = {}
    for e in events:
        if not e.bot and e.link_id in members:
            key = (e.visitor, e.ts // 86400)
            first[key] = min(first.get(key, e.at), e.at)
    return sum(1 for at in first.values() if start <= at < end)


def _members(
    links: list[tuple[Link, tuple[str | None, list[str]]]], flt: dict[str, str]
) -> set[str]:
    out = set()
    for link, (folder, tags) in links:
        if "folder" in flt and not (folder or "").startswith(flt["folder"]):
            continue
        if "tag" in flt and flt["tag"] not in tags:
            continue
        out.add(link.id)
    return out


async def test_unique_visitors_are_exact_for_every_set_and_survive_the_purge(
    store: Store, clock: FakeClock
) -> None:
    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    counter = itertools.count()
    today = clock.now.replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today - timedelta(days=4), today + timedelta(days=1)

    async def check(clicks: list[tuple[Any, ...]]) -> None:
        principal = Principal(workspace_id=f"u{next(counter)}")
        links = [
            await service.create_link(
                principal, LinkCreate(url=f"https://e.com/{i}", folder=folder, tags=tags)
            )
            for i, (folder, tags) in enumerate(LINKS)
        ]
        events = [
            ClickEvent(
                link_id=links[li].id,
                workspace_id=principal.workspace_id,
                at=today - timedelta(days=days) + timedelta(minutes=minute, seconds=3),
                visitor=f"v{visitor}",
                traffic="crawler" if bot else "human",
            )
            for days, minute, li, visitor, bot in clicks
        ]
        await store.record_clicks(sorted(events, key=lambda e: e.at))

        async def report(**flt: str) -> Any:
            query = AnalyticsQuery(start=start, end=end, interval="day", **flt)
            return await service.get_analytics(principal, query)

        async def compare(alive: list[tuple[Link, tuple[str | None, list[str]]]]) -> None:
            for flt in FILTERS:
                got = await report(**flt)
                want = _expected(events, _members(alive, flt), start, end)
                assert got.unique_visitors == want, flt
                assert got.unique_visitors <= got.clicks_in_period
            for link, _ in alive:
                got = await report(link=link.code)
                assert got.unique_visitors == _expected(events, {link.id}, start, end)
            # a window that starts and ends at 06:00 UTC, cutting three days
            cut = (today - timedelta(days=3, hours=-6), today + timedelta(hours=6))
            for flt in FILTERS:
                query = AnalyticsQuery(start=cut[0], end=cut[1], interval="hour", **flt)
                got = await service.get_analytics(principal, query)
                want = _expected_cut(events, _members(alive, flt), *cut)
                assert got.unique_visitors == want, ("cut", flt)

        specs = list(zip(links, LINKS, strict=True))
        await compare(specs)
        # the retention purge of the two older days leaves every figure as it was
        await purge_clicks(store, today - timedelta(days=2))
        await compare(specs)
        # a link deleted for good drops out of its folders', tags' and the workspace's uniques
        await service.delete_link(principal, links[1].code, permanent=True)
        alive = [spec for i, spec in enumerate(specs) if i != 1]
        events = [e for e in events if e.link_id != links[1].id]
        await compare(alive)

    @settings(
        max_examples=25,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(clicks=st.lists(CLICK, max_size=40))
    def run(clicks: list[tuple[Any, ...]]) -> None:
        anyio.from_thread.run(check, clicks)

    with anyio.fail_after(300):
        await anyio.to_thread.run_sync(run)
    assert next(counter) >= 25


async def test_a_visitor_of_two_links_of_a_folder_is_one_visitor_of_it(
    store: Store, clock: FakeClock
) -> None:
    """The issue's case: six visitors over four links of one folder are six, not ten."""
    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    p = Principal(workspace_id="default")
    links = [
        await service.create_link(
            p, LinkCreate(url=f"https://e.com/{i}", folder="Spring", tags=["sale"])
        )
        for i in range(4)
    ]
    plan = [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 3), (3, 3), (3, 0), (4, 0), (5, 1)]
    await store.record_clicks(
        [
            ClickEvent(
                link_id=links[li].id,
                workspace_id="default",
                at=clock.now - timedelta(minutes=30 - i),
                visitor=f"v{v}",
            )
            for i, (v, li) in enumerate(plan)
        ]
    )
    clock.advance(minutes=15)
    for flt in ({"folder": "Spring"}, {"tag": "sale"}, {}):
        report = await service.get_analytics(p, AnalyticsQuery(period="24h", **flt))
        assert (report.clicks_in_period, report.unique_visitors) == (10, 6), flt
