"""The per-set day cache holds a set's conversion figures too (migration 0017) and never changes
an answer: for random conversions (events with and without a value, in two currencies, on
links in nested folders and tags, with variants and breakdown keys), a folder's and a tag's
conversion figures (per event and currency, every breakdown, per link, the daily series, and
the analytics' totals, revenue and previous period) equal figures worked out from the
conversions themselves, when the cache is filled and when it is read, and again after each
change: late conversions on cached days, a link moved, retagged, a tag and a folder renamed,
a link deleted for good. Each change forgets exactly what it touches before the next read.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import AnalyticsQuery, Link, LinkCreate, LinkUpdate, Principal
from clypt_mcp.store.base import ConversionRecord, ConversionStats, LinkFilter, Store
from clypt_mcp.store.setdays import CONV
from tests.conftest import BASE_URL, FakeClock
from tests.core.test_set_days import LINKS, _cached_days, _rows, _today

pytestmark = pytest.mark.anyio

DAY = 86400
EVENTS = [("signup", None, None), ("purchase", 1250, "EUR"), ("purchase", 990, "USD"),
          ("trial", None, None)]  # fmt: skip
COUNTRIES = ["DE", "FR", None]
DEVICES = ["desktop", "mobile", None]
REFERRERS = ["news.example", None]
VARIANTS = ["a", "b", None]
# A conversion: (days before today of its click, minute of that day, link, event, mix of
# country, device, referrer and variant).
WINDOW_DAYS = 5


class Plan:
    """The conversions of one example and the figures a set should have, from the conversions
    themselves (the oracle the store is held to)."""

    def __init__(self, links: list[Link]) -> None:
        self.links = links
        self.folders = {ln.id: spec[0] for ln, spec in zip(links, LINKS, strict=True)}
        self.tags = {ln.id: set(spec[1]) for ln, spec in zip(links, LINKS, strict=True)}
        self.conversions: list[ConversionRecord] = []
        self.gone: set[str] = set()

    def members(self, flt: dict[str, str]) -> set[str]:
        out = set()
        for link in self.links:
            folder = self.folders[link.id] or ""
            if link.id in self.gone:
                continue
            if "folder" in flt and not (
                folder == flt["folder"] or folder.startswith(flt["folder"] + "/")
            ):
                continue
            if "tag" in flt and flt["tag"] not in self.tags[link.id]:
                continue
            out.add(link.id)
        return out

    def stats(self, flt: dict[str, str], start: int, end: int) -> ConversionStats:
        members = self.members(flt)
        codes = {ln.id: ln.code for ln in self.links}
        mine = [c for c in self.conversions if c.link_id in members and start <= c.click_ts < end]
        totals: dict[tuple[str, str], list[int]] = {}
        for c in mine:
            pair = totals.setdefault((c.event, c.currency or ""), [0, 0])
            pair[0] += 1
            pair[1] += c.value or 0
        breakdowns: dict[str, dict[str, int]] = {}
        for dim, default in (("country", "unknown"), ("device", "other"),
                             ("referrer", "unknown"), ("variant", None)):  # fmt: skip
            keys = Counter(str(k) for c in mine if (k := getattr(c, dim) or default))
            if keys:
                breakdowns[dim] = dict(keys)
        breakdowns["link"] = dict(Counter(codes[c.link_id] for c in mine))
        days = Counter(c.click_ts // DAY * DAY for c in mine)
        return ConversionStats(
            by_event=[(e, cur, n, v) for (e, cur), (n, v) in sorted(totals.items())],
            breakdowns=breakdowns,
            buckets=sorted(days.items()),
        )


def _same(got: ConversionStats) -> tuple[Any, ...]:
    """A ConversionStats in a comparable form (zero buckets and breakdown order aside)."""
    return (
        sorted(got.by_event),
        {d: dict(sorted(k.items())) for d, k in sorted(got.breakdowns.items())},
        sorted((t, n) for t, n in got.buckets if n),
    )


async def _conversion_rows(store: Store, ws: str) -> int:
    rows = await _rows(
        store,
        "SELECT COUNT(*) FROM set_days WHERE workspace_id = :ws AND dim LIKE :conv",
        {"ws": ws, "conv": CONV + "%"},
    )
    return int(rows[0][0])


async def test_cached_set_conversions_equal_the_conversions_through_every_change(
    store: Store,
) -> None:
    today = _today()
    clock = FakeClock(today + timedelta(hours=12))
    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    counter = itertools.count()
    start, end = today - timedelta(days=WINDOW_DAYS - 1), today + timedelta(days=1)
    span = (int(start.timestamp()), int(end.timestamp()))
    before = (span[0] - (span[1] - span[0]), span[0])
    settled = {int((today - timedelta(days=i)).timestamp()) for i in range(1, 2 * WINDOW_DAYS)}
    settled = {d for d in settled if d + DAY <= datetime.now(UTC).timestamp() - 300}

    async def check(conversions: list[tuple[int, ...]], late: list[tuple[int, ...]]) -> None:
        p = Principal(workspace_id=f"c{next(counter)}")
        ws = p.workspace_id
        links = [
            await service.create_link(
                p, LinkCreate(url=f"https://e.com/{i}", folder=folder, tags=tags)
            )
            for i, (folder, tags) in enumerate(LINKS)
        ]
        plan = Plan(links)

        async def record(spec: list[tuple[int, ...]]) -> None:
            for days, minute, li, ev, mix in spec:
                event, value, currency = EVENTS[ev]
                at = today - timedelta(days=days, minutes=-minute)
                rec = ConversionRecord(
                    id=uuid.uuid4().hex, workspace_id=ws, link_id=links[li].id,
                    click_id=uuid.uuid4().hex, event=event, value=value, currency=currency,
                    external_id=None, occurred_at=clock.now, created_at=clock.now,
                    click_ts=int(at.timestamp()), variant=VARIANTS[mix // 18 % 3],
                    country=COUNTRIES[mix % 3], device=DEVICES[mix // 3 % 3],
                    referrer=REFERRERS[mix // 9 % 2],
                )  # fmt: skip
                await store.insert_conversion(rec)
                plan.conversions.append(rec)

        async def link_filter(flt: dict[str, str]) -> LinkFilter:
            out = LinkFilter(workspace_id=ws, tag=flt.get("tag"))
            if "folder" in flt:
                out.folder_ids = await service.folder_ids_under(p, flt["folder"])
            return out

        async def compare(filters: list[dict[str, str]], step: str) -> None:
            for flt in filters:
                lf = await link_filter(flt)
                want = _same(plan.stats(flt, *span))
                first = await store.conversion_stats(lf, *span, DAY)  # fills the cache
                assert _same(first) == want, (step, flt, "fill")
                again = await store.conversion_stats(lf, *span, DAY)  # reads it
                assert _same(again) == want, (step, flt, "cached")
                prev = await store.conversion_stats(lf, *before, DAY)
                assert _same(prev) == _same(plan.stats(flt, *before)), (step, flt, "previous")
                assert settled <= await _cached_days(store, ws), (step, flt)
                again = await store.conversion_stats(lf, *before, DAY)  # reads it
                assert _same(again) == _same(plan.stats(flt, *before)), (step, flt, "cached")
                # what the analytics answer shows of them
                query = AnalyticsQuery(start=start, end=end, interval="day", top=50, **flt)
                got = await service.get_analytics(p, query)
                expected = plan.stats(flt, *span)
                assert got.conversions == expected.total, (step, flt)
                assert got.revenue == expected.revenue(), (step, flt)
                series = dict(expected.buckets)
                assert [b.conversions for b in got.timeseries] == [
                    series.get(int(b.t.timestamp()), 0) for b in got.timeseries
                ], (step, flt)
                assert got.previous.conversions == plan.stats(flt, *before).total, (step, flt)

        filters = [{"folder": "A"}, {"folder": "A/B"}, {"folder": "C"}, {"tag": "t1"},
                   {"tag": "t2"}, {"tag": "t1", "folder": "A"}]  # fmt: skip
        await record(conversions)
        await compare(filters, "start")
        if plan.conversions:
            assert await _conversion_rows(store, ws) > 0, "the cache holds conversions"

        # late conversions on cached days forget those days only, and count
        late_days = {int((today - timedelta(days=d)).timestamp()) for d, *_ in late}
        cached = await _cached_days(store, ws)
        await record(late)
        assert await _cached_days(store, ws) == cached - late_days, "late conversions"
        await compare(filters, "late conversions")

        # a link moved to another folder, then retagged
        await service.update_link(p, links[2].code, LinkUpdate(folder="C"))
        assert await _cached_days(store, ws) == set(), "move"
        plan.folders[links[2].id] = "C"
        await compare(filters, "move")
        await service.update_link(p, links[0].code, LinkUpdate(tags=["t2"]))
        assert await _cached_days(store, ws) == set(), "retag"
        plan.tags[links[0].id] = {"t2"}
        await compare(filters, "retag")

        # a tag renamed and a folder renamed
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

        # a link deleted for good takes its conversions with it
        await service.delete_link(p, links[1].code, permanent=True)
        assert await _cached_days(store, ws) == set(), "delete"
        plan.gone.add(links[1].id)
        await compare(renamed, "delete")

    def plan(rng: random.Random, least_days: int, size: int) -> list[tuple[int, ...]]:
        return [
            (rng.randint(least_days, 8 if least_days == 0 else 4), rng.randint(0, 1439),
             rng.randrange(len(LINKS)), rng.randrange(len(EVENTS)), rng.randrange(54))
            for _ in range(size)
        ]  # fmt: skip

    # Seeded plans (not hypothesis: PostgreSQL's pool draws on `random` in its own thread)
    for seed in range(8):
        rng = random.Random(seed)
        with anyio.fail_after(120):
            await check(plan(rng, 0, rng.choice([0, 5, 40])), plan(rng, 1, rng.randint(1, 4)))
    assert next(counter) == 8


async def test_a_late_conversion_is_not_read_from_a_stale_day(
    store: Store, clock: FakeClock
) -> None:
    """One conversion on a cached day: the day is forgotten (only it), and the tag's figures
    count the conversion at once (read from the rollups, then cached again with it)."""
    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    p = Principal(workspace_id="default")
    link = await service.create_link(p, LinkCreate(url="https://e.com/", tags=["x"]))
    yesterday = _today() - timedelta(days=1)
    day = int(yesterday.timestamp())

    def conversion(value: int) -> ConversionRecord:
        return ConversionRecord(
            id=uuid.uuid4().hex, workspace_id="default", link_id=link.id,
            click_id=uuid.uuid4().hex, event="purchase", value=value, currency="EUR",
            external_id=None, occurred_at=clock.now, created_at=clock.now,
            click_ts=day + 3600, country="DE",
        )  # fmt: skip

    await store.insert_conversion(conversion(100))
    flt = LinkFilter(workspace_id="default", tag="x")
    span = (day - 2 * DAY, day + DAY)
    first = await store.conversion_stats(flt, *span, DAY)
    assert first.by_event == [("purchase", "EUR", 1, 100)]
    if day + DAY <= datetime.now(UTC).timestamp() - 300:  # yesterday is settled: cached
        assert day in await _cached_days(store, "default")
        assert await _conversion_rows(store, "default") > 0
    await store.insert_conversion(conversion(250))
    assert day not in await _cached_days(store, "default")
    got = await store.conversion_stats(flt, *span, DAY)
    assert got.by_event == [("purchase", "EUR", 2, 350)]
    assert got.breakdowns["country"] == {"DE": 2}
    assert got.breakdowns["link"] == {link.code: 2}
    assert got.buckets == [(day, 2)]
    assert _same(await store.conversion_stats(flt, *span, DAY)) == _same(got)


async def test_a_fill_stands_aside_beside_an_uncommitted_conversion(
    pg_url: str, clock: FakeClock
) -> None:
    """PostgreSQL: a conversion in the middle of its transaction (its rollup trigger has run,
    it has not committed) holds the set lock shared; a set's query meanwhile answers at once,
    caches nothing, and the day it would have cached is never stale."""
    import psycopg

    from clypt_mcp.store.postgres import PostgresStore

    store = PostgresStore(pg_url, max_size=4)
    await store.open()
    try:
        service = ClyptService(store, base_url=BASE_URL, clock=clock)
        p = Principal(workspace_id="default")
        link = await service.create_link(p, LinkCreate(url="https://e.com/", folder="F"))
        day = int((_today() - timedelta(days=2)).timestamp())
        flt = LinkFilter(workspace_id="default", folder_ids=await service.folder_ids_under(p, "F"))
        span = (day - 2 * DAY, day + 2 * DAY)
        sql = (
            "INSERT INTO conversion_rollups (workspace_id, link_id, grain, dim, t, key, event, "
            "currency, conversions, revenue) VALUES ('default', %s, 86400, '*', %s, '', "
            "'signup', '', 1, 0)"
        )
        assert (await store.conversion_stats(flt, *span, DAY)).by_event == []
        assert day in await _cached_days(store, "default")
        with psycopg.connect(pg_url) as writer:
            writer.execute(sql, (link.id, day))
            with anyio.fail_after(5):
                got = await store.conversion_stats(flt, *span, DAY)
            assert got.by_event == []  # not committed: the cache as it was
            writer.commit()
        assert day not in await _cached_days(store, "default")
        with psycopg.connect(pg_url) as writer:
            writer.execute(sql.replace("'signup'", "'trial'"), (link.id, day))
            with anyio.fail_after(5):
                got = await store.conversion_stats(flt, *span, DAY)
            assert got.by_event == [("signup", "", 1, 0)]  # from the rollups
            assert day not in await _cached_days(store, "default")  # the fill stood aside
            writer.commit()
        got = await store.conversion_stats(flt, *span, DAY)
        assert got.by_event == [("signup", "", 1, 0), ("trial", "", 1, 0)]
        assert day in await _cached_days(store, "default")
        assert _same(await store.conversion_stats(flt, *span, DAY)) == _same(got)
    finally:
        await store.close()
