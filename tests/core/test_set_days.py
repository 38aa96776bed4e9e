"""The per-set day cache (`set_days`) never changes an answer: for random click plans over links
in nested folders and tags, a folder's and a tag's analytics (every breakdown, the series, the
uniques, the previous period) equal figures worked out from the clicks themselves, when the
cache is filled and when it is read, and again after each change that moves a link in or out
of a set or changes a day's clicks: a link moved, retagged, a tag renamed, a folder renamed,
late clicks on a cached day, the retention purge, the rollup key cap, a link deleted for good.
The triggers forget exactly what a change touches (a day, or the workspace) before anything
can read it, and a fill on PostgreSQL writes nothing while another writer of the workspace is
in the middle of a change.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clypt_mcp.core.clicks import purge_clicks
from clypt_mcp.core.housekeeping import Housekeeping
from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import (
    Analytics,
    AnalyticsQuery,
    ClickEvent,
    Link,
    LinkCreate,
    LinkUpdate,
    Principal,
)
from clypt_mcp.store.base import ROLLUP_KEYS, Store
from tests.conftest import BASE_URL, FakeClock

pytestmark = pytest.mark.anyio

# (folder, tags) of each link: A holds A/B.
LINKS: list[tuple[str | None, list[str]]] = [
    ("A", ["t1"]),
    ("A/B", ["t1", "t2"]),
    ("A/B", []),
    ("C", ["t2"]),
    (None, ["t1"]),
]
COUNTRIES = ["DE", "FR", "US", None]
DEVICES = ["desktop", "mobile", "tablet", None]
BROWSERS = ["Chrome", "Firefox", None]
REFERRERS = ["news.example", "t.co", None]
TRAFFIC = ["human", "human", "qr", "crawler", "preview"]
CLICK = st.tuples(
    st.integers(min_value=0, max_value=8),  # days before today
    st.integers(min_value=0, max_value=1439),  # minute of that day
    st.integers(min_value=0, max_value=len(LINKS) - 1),
    st.integers(min_value=0, max_value=5),  # visitor
    st.integers(min_value=0, max_value=len(TRAFFIC) - 1),
    st.integers(min_value=0, max_value=47),  # country, device, browser, referrer
)
WINDOW_DAYS = 5


def _today() -> datetime:
    """Today's UTC midnight by the wall clock: the days before it are cached, today is not."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class Plan:
    """The clicks and links of one example, and the figures a query should give, worked out
    from the clicks (the oracle the store is held to)."""

    def __init__(self, links: list[Link]) -> None:
        self.links = links
        self.folders: dict[str, str | None] = {
            ln.id: spec[0] for ln, spec in zip(links, LINKS, strict=True)
        }
        self.tags: dict[str, set[str]] = {
            ln.id: set(spec[1]) for ln, spec in zip(links, LINKS, strict=True)
        }
        self.events: list[ClickEvent] = []
        self.gone: set[str] = set()

    def members(self, flt: dict[str, str]) -> set[str]:
        out = set()
        for link in self.links:
            if link.id in self.gone:
                continue
            folder = self.folders[link.id] or ""
            if "folder" in flt and not (
                folder == flt["folder"] or folder.startswith(flt["folder"] + "/")
            ):
                continue
            if "tag" in flt and flt["tag"] not in self.tags[link.id]:
                continue
            out.add(link.id)
        return out

    def expected(self, flt: dict[str, str], start: datetime, end: datetime) -> dict[str, Any]:
        members = self.members(flt)
        codes = {ln.id: ln.code for ln in self.links}
        mine = [e for e in self.events if e.link_id in members]
        inside = [e for e in mine if start <= e.at < end]
        human = [e for e in inside if not e.bot]
        span = end - start
        before = [e for e in mine if start - span <= e.at < start and not e.bot]

        def top(values: Iterable[str]) -> list[tuple[str, int]]:
            return sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))

        days = [start + timedelta(days=i) for i in range(span.days)]
        return {
            "total_clicks": sum(1 for e in mine if not e.bot),
            "clicks_in_period": len(human),
            "unique_visitors": len({(e.visitor, e.ts // 86400) for e in human}),
            "previous": (len(before), len({(e.visitor, e.ts // 86400) for e in before})),
            "countries": top(e.country or "unknown" for e in human),
            "devices": top(e.device or "other" for e in human),
            "browsers": top(e.browser or "unknown" for e in human),
            "referrers": top(e.referrer or "unknown" for e in human),
            "links": [(codes[k], n) for k, n in top(e.link_id for e in human)],  # ties: by id
            "traffic": top(str(e.traffic) for e in inside),
            "timeseries": [
                sum(1 for e in human if d <= e.at < d + timedelta(days=1)) for d in days
            ],
        }


def _figures(got: Analytics) -> dict[str, Any]:
    pairs = {
        name: [(c.key, c.clicks) for c in getattr(got, name)]
        for name in ("countries", "devices", "browsers", "referrers", "links", "traffic")
    }
    return {
        "total_clicks": got.total_clicks,
        "clicks_in_period": got.clicks_in_period,
        "unique_visitors": got.unique_visitors,
        "previous": (got.previous.clicks, got.previous.unique_visitors),
        **pairs,
        "timeseries": [b.clicks for b in got.timeseries],
    }


async def _rows(store: Store, sql: str, args: dict[str, Any]) -> list[Any]:
    return list(await store.db.run(lambda q: q.all(sql, args)))  # type: ignore[attr-defined]


async def _forget_all(store: Store) -> None:
    """Empty the cache by hand (what the next query then fills is worked out afresh)."""
    await store.db.run(lambda q: q.run("DELETE FROM set_days"), write=True)  # type: ignore[attr-defined]


async def _cached_days(store: Store, ws: str) -> set[int]:
    rows = await _rows(
        store, "SELECT DISTINCT day FROM set_days WHERE workspace_id = :ws AND dim = ''", {"ws": ws}
    )
    return {int(r[0]) for r in rows}


async def test_cached_set_figures_equal_the_clicks_through_every_change(store: Store) -> None:
    today = _today()
    clock = FakeClock(today + timedelta(hours=12))
    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    counter = itertools.count()
    start, end = today - timedelta(days=WINDOW_DAYS - 1), today + timedelta(days=1)
    settled = {int((today - timedelta(days=i)).timestamp()) for i in range(1, 2 * WINDOW_DAYS)}
    settled = {d for d in settled if d + 86400 <= datetime.now(UTC).timestamp() - 300}

    async def check(clicks: list[tuple[Any, ...]], late: list[tuple[Any, ...]]) -> None:
        p = Principal(workspace_id=f"s{next(counter)}")
        ws = p.workspace_id
        links = [
            await service.create_link(
                p, LinkCreate(url=f"https://e.com/{i}", folder=folder, tags=tags)
            )
            for i, (folder, tags) in enumerate(LINKS)
        ]
        plan = Plan(links)

        def events(spec: list[tuple[Any, ...]]) -> list[ClickEvent]:
            return [
                ClickEvent(
                    link_id=links[li].id,
                    workspace_id=ws,
                    at=today - timedelta(days=days, minutes=-minute, seconds=-7),
                    visitor=f"v{visitor}",
                    traffic=TRAFFIC[kind],
                    country=COUNTRIES[mix % 4],
                    device=DEVICES[mix // 4 % 4],
                    browser=BROWSERS[mix // 16 % 3],
                    referrer=REFERRERS[mix % 3],
                )
                for days, minute, li, visitor, kind, mix in spec
            ]

        async def record(spec: list[tuple[Any, ...]]) -> None:
            new = events(spec)
            if new:
                await store.record_clicks(sorted(new, key=lambda e: e.at))
            plan.events += new

        async def compare(filters: list[dict[str, str]], step: str) -> None:
            for flt in filters:
                query = AnalyticsQuery(start=start, end=end, interval="day", top=50, **flt)
                want = plan.expected(flt, start, end)
                first = await service.get_analytics(p, query)  # fills the cache
                assert _figures(first) == want, (step, flt, "fill")
                assert settled <= await _cached_days(store, ws), (step, flt)
                again = await service.get_analytics(p, query)  # reads it
                assert _figures(again) == want, (step, flt, "cached")

        filters = [{"folder": "A"}, {"folder": "A/B"}, {"folder": "C"}, {"tag": "t1"},
                   {"tag": "t2"}, {"tag": "t1", "folder": "A"}]  # fmt: skip
        await record(clicks)
        await compare(filters, "start")

        # late clicks on cached days forget those days only, and count
        late_days = {int((today - timedelta(days=d)).timestamp()) for d, *_ in late}
        before = await _cached_days(store, ws)
        await record(late)
        after = await _cached_days(store, ws)
        assert after == before - late_days, "late clicks"
        await compare(filters, "late clicks")

        # a link moved to another folder, then retagged
        await service.update_link(p, links[2].code, LinkUpdate(folder="C"))
        assert await _cached_days(store, ws) == set(), "move"
        plan.folders[links[2].id] = "C"
        await compare(filters, "move")
        await service.update_link(p, links[0].code, LinkUpdate(tags=["t2"]))
        assert await _cached_days(store, ws) == set(), "retag"
        plan.tags[links[0].id] = {"t2"}
        await compare(filters, "retag")

        # a tag renamed and a folder renamed: the old names name other (empty) sets
        await service.update_tag(p, "t1", "t9")
        assert await _cached_days(store, ws) == set(), "tag rename"
        for tags in plan.tags.values():
            if "t1" in tags:
                tags.discard("t1")
                tags.add("t9")
        await service.update_folder(p, "A/B", name="D")
        assert await _cached_days(store, ws) == set(), "folder rename"
        for link_id, folder in plan.folders.items():
            if folder == "A/B":
                plan.folders[link_id] = "A/D"
        renamed = [{"folder": "A"}, {"folder": "A/D"}, {"folder": "C"}, {"tag": "t9"},
                   {"tag": "t2"}]  # fmt: skip
        await compare(renamed, "renames")

        # the retention purge of raw clicks, and the rollup key cap, change no figure
        await purge_clicks(store, today - timedelta(days=2))
        await Housekeeping(store, clock=clock).sweep()
        await compare(renamed, "purge and cap")

        # a link deleted for good leaves every set it was in
        await service.delete_link(p, links[1].code, permanent=True)
        assert await _cached_days(store, ws) == set(), "delete"
        plan.gone.add(links[1].id)
        await compare(renamed, "delete")

    @settings(
        max_examples=12,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        clicks=st.lists(CLICK, max_size=40),
        late=st.lists(CLICK.filter(lambda c: 1 <= c[0] <= 4), min_size=1, max_size=5),
    )
    def run(clicks: list[tuple[Any, ...]], late: list[tuple[Any, ...]]) -> None:
        anyio.from_thread.run(check, clicks, late)

    with anyio.fail_after(600):
        await anyio.to_thread.run_sync(run)
    assert next(counter) >= 12


async def test_the_key_cap_forgets_the_days_it_folds(store: Store, clock: FakeClock) -> None:
    """More Referers than a bucket keeps: the cap folds them into `other` on the links' rows,
    which changes the keys of the set's sum; the folded days are forgotten and filled again
    from the capped rows, so the folder reads what its links' capped rows add up to."""
    clock.now = _today() - timedelta(days=1) + timedelta(hours=12)  # yesterday, by the wall
    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    p = Principal(workspace_id="default")
    links = [
        await service.create_link(p, LinkCreate(url=f"https://e.com/{i}", folder="F"))
        for i in range(2)
    ]
    flood = ROLLUP_KEYS + 20
    await store.record_clicks(
        [
            ClickEvent(
                link_id=links[i % 2].id,
                workspace_id="default",
                at=clock.now - timedelta(minutes=i % 60),
                referrer=f"r{i}.example" if i < flood else "news.example",
                visitor=f"v{i}",
            )
            for i in range(flood + 30)
        ]
    )
    query = AnalyticsQuery(folder="F", period="7d", top=5)
    await service.get_analytics(p, query)
    day = int((_today() - timedelta(days=1)).timestamp())
    assert day in await _cached_days(store, "default")
    clock.advance(days=1)  # the cap reaches back CAP_DAYS from the service's clock
    assert (await Housekeeping(store, clock=clock).sweep())["rollup keys"] > 0
    assert day not in await _cached_days(store, "default")
    got = await service.get_analytics(p, query)
    assert day in await _cached_days(store, "default")
    referrers = {c.key: c.clicks for c in got.referrers}
    assert got.clicks_in_period == sum(referrers.values()) == flood + 30
    assert referrers["news.example"] == 30
    # what the links' own rows add up to now, with no cache
    await _forget_all(store)
    assert _figures(await service.get_analytics(p, query)) == _figures(got)


async def test_old_fills_are_purged_and_fill_again(store: Store, clock: FakeClock) -> None:
    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    p = Principal(workspace_id="default")
    link = await service.create_link(p, LinkCreate(url="https://e.com/", tags=["x"]))
    await store.record_clicks(
        [ClickEvent(link_id=link.id, workspace_id="default", at=clock.now, visitor="v")]
    )
    query = AnalyticsQuery(tag="x", period="7d")
    first = await service.get_analytics(p, query)
    assert await _cached_days(store, "default")
    assert await store.purge_set_days(3600) == 0  # filled just now
    assert await store.purge_set_days(-1) > 0
    assert await _cached_days(store, "default") == set()
    assert _figures(await service.get_analytics(p, query)) == _figures(first)
    assert await _cached_days(store, "default")


async def test_a_fill_waits_for_no_writer_and_writes_nothing_beside_one(
    pg_url: str, clock: FakeClock
) -> None:
    """PostgreSQL: a writer of the workspace in the middle of a change (its trigger has run,
    it has not committed) holds the set lock shared; a query meanwhile answers at once from
    the rollups and caches nothing, so the change cannot leave a stale day behind."""
    import psycopg

    from clypt_mcp.store.postgres import PostgresStore

    store = PostgresStore(pg_url, max_size=4)
    await store.open()
    try:
        service = ClyptService(store, base_url=BASE_URL, clock=clock)
        p = Principal(workspace_id="default")
        links = [
            await service.create_link(p, LinkCreate(url=f"https://e.com/{i}", folder="F"))
            for i in range(2)
        ]
        await store.record_clicks(
            [
                ClickEvent(
                    link_id=links[i % 2].id,
                    workspace_id="default",
                    visitor=f"v{i}",
                    at=clock.now - timedelta(hours=i),
                )
                for i in range(10)
            ]
        )
        query = AnalyticsQuery(folder="F", period="7d")
        want = _figures(await service.get_analytics(p, query))
        assert await _cached_days(store, "default")
        with psycopg.connect(pg_url) as writer:
            writer.execute("UPDATE links SET folder_id = NULL WHERE id = %s", (links[0].id,))
            assert await _cached_days(store, "default")  # not committed: still cached
            with anyio.fail_after(5):
                got = _figures(await service.get_analytics(p, query))
            assert got == want  # the cache as it was, consistent with the committed links
            writer.commit()
        assert await _cached_days(store, "default") == set()
        with psycopg.connect(pg_url) as writer:
            writer.execute("UPDATE links SET folder_id = NULL WHERE id = %s", (links[1].id,))
            with anyio.fail_after(5):
                got = _figures(await service.get_analytics(p, query))
            assert got["clicks_in_period"] == 5  # link 1's clicks, read from the rollups
            assert await _cached_days(store, "default") == set()  # the fill stood aside
            writer.commit()
        got = _figures(await service.get_analytics(p, query))
        assert got["clicks_in_period"] == 0
        assert await _cached_days(store, "default")
    finally:
        await store.close()


async def test_a_reader_sees_when_a_day_it_used_was_forgotten_or_filled_again(
    store: Store, clock: FakeClock
) -> None:
    """The check a query makes at its end: every day it took from the cache still holds the
    same fill (a day forgotten, or forgotten and filled again, while it read makes the query
    answer again without the cache)."""
    from clypt_mcp.store.base import set_key
    from clypt_mcp.store.setdays import SetDays

    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    p = Principal(workspace_id="default")
    link = await service.create_link(p, LinkCreate(url="https://e.com/", folder="F"))
    day = int(clock.now.timestamp()) // 86400 * 86400
    await store.record_clicks(
        [ClickEvent(link_id=link.id, workspace_id="default", at=clock.now, visitor="v")]
    )
    members = "SELECT l.id FROM links l WHERE l.workspace_id = :ws AND l.folder_id IS NOT NULL"
    args: dict[str, Any] = {"ws": "default"}
    days = SetDays("default", set_key(members, args), members, args, (day - 86400, day + 86400),
                   int(datetime.now(UTC).timestamp()))  # fmt: skip
    run = store.db.run  # type: ignore[attr-defined]
    assert await run(days.fill, write=True) == 2
    known = await run(days.read)
    assert set(known.stamps) == {day - 86400, day} and known.uniques == {day: 1}
    assert await run(lambda q: days.still(q, known))
    await store.record_clicks(  # a late click on the cached day
        [ClickEvent(link_id=link.id, workspace_id="default", at=clock.now, visitor="w")]
    )
    assert not await run(lambda q: days.still(q, known))
    assert await run(days.fill, write=True) == 1  # filled again: another stamp
    assert not await run(lambda q: days.still(q, known))
    assert (await run(days.read)).uniques == {day: 2}
