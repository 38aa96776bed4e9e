"""What only several PostgreSQL clients at once show: the database keeps everything exact.

Each test opens three stores (three pools, as three `serve` processes would) on one schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from typing import Any

import anyio
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import CodeTakenError, ConflictError
from clypt_mcp.models import (
    ALL_SCOPES,
    AnalyticsQuery,
    ApiKeyCreate,
    ClickEvent,
    LinkCreate,
    Principal,
)
from clypt_mcp.store.postgres import PostgresStore
from tests.conftest import FakeClock

# every test here needs the PostgreSQL server: skipped, with how to get one, without it
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pg_server")]

P = Principal(workspace_id="default", scopes=ALL_SCOPES)


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[list[PostgresStore]]:
    opened = [PostgresStore(pg_url, max_size=10) for _ in range(3)]
    for store in opened:
        await store.open()
    yield opened
    for store in opened:
        await store.close()


@pytest.fixture
def services(stores: list[PostgresStore], clock: FakeClock) -> list[ClyptService]:
    return [ClyptService(store, base_url="https://clypt.test", clock=clock) for store in stores]


async def _all(job: Callable[[int], Coroutine[Any, Any, None]], n: int) -> None:
    """Run `job(0)` … `job(n - 1)` all at once."""
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(job, i)


async def test_300_concurrent_creates_with_one_code_give_one_link(
    services: list[ClyptService], stores: list[PostgresStore]
) -> None:
    outcomes: list[str] = []

    async def create(i: int) -> None:
        data = LinkCreate(url=f"https://example.com/{i}", code="launch", tags=["spring"])
        try:
            await services[i % 3].create_link(P, data)
            outcomes.append("created")
        except CodeTakenError:
            outcomes.append("taken")

    await _all(create, 300)
    assert sorted(outcomes).count("created") == 1 and outcomes.count("taken") == 299
    assert await stores[0].count_links() == 1
    assert await stores[0].count_rows("tags") == 1  # the losers' tags were rolled back


async def test_300_concurrent_generated_codes_are_all_distinct(
    stores: list[PostgresStore], clock: FakeClock
) -> None:
    # A tiny code space forces collisions, which the unique index turns into retries.
    counter = iter(range(10**6))

    def code() -> str:
        return f"c{next(counter) % 400}"

    services = [
        ClyptService(s, base_url="https://clypt.test", clock=clock, codes=code) for s in stores
    ]
    codes: list[str] = []

    async def create(i: int) -> None:
        made = await services[i % 3].create_link(P, LinkCreate(url=f"https://example.com/{i}"))
        codes.append(made.code)

    await _all(create, 300)
    assert len(codes) == 300 and len(set(codes)) == 300
    assert await stores[0].count_links() == 300


async def test_max_clicks_holds_exactly_across_stores(
    services: list[ClyptService], stores: list[PostgresStore], clock: FakeClock
) -> None:
    link = await services[0].create_link(P, LinkCreate(url="https://example.com", max_clicks=100))
    counted: list[bool] = []

    async def visit(i: int) -> None:
        counted.append(await stores[i % 3].count_redirect(link.id, clock()))

    await _all(visit, 1000)
    assert counted.count(True) == 100
    record = await stores[1].get_link(None, link_id=link.id)
    assert record is not None and record.redirects == 100


async def test_the_active_key_limit_holds_under_concurrent_creation(
    services: list[ClyptService], stores: list[PostgresStore]
) -> None:
    made: list[str] = []

    async def create(i: int) -> None:
        try:
            key = await services[i % 3].create_api_key("default", ApiKeyCreate(name=f"k{i}"))
            made.append(key.id)
        except ConflictError:
            pass

    await _all(create, 30)
    assert len(made) == 10
    assert len(await stores[2].list_keys("default")) == 10


async def test_concurrent_creators_of_one_folder_path_share_one_folder(
    stores: list[PostgresStore], clock: FakeClock
) -> None:
    await stores[0].ensure_workspace("default", clock())
    ids: list[str] = []

    async def ensure(i: int) -> None:
        ids.append(await stores[i % 3].ensure_folder_path("default", ["Team", "2026"], clock()))

    await _all(ensure, 60)
    assert len(set(ids)) == 1
    assert len(await stores[0].list_folders("default")) == 2


async def test_concurrent_click_batches_count_a_visitor_once_a_day(
    services: list[ClyptService], stores: list[PostgresStore], clock: FakeClock
) -> None:
    links = [
        await services[0].create_link(P, LinkCreate(url=f"https://e.com/{i}")) for i in range(3)
    ]

    def batch(i: int) -> list[ClickEvent]:
        return [
            ClickEvent(
                link_id=links[(i + j) % 3].id,
                workspace_id="default",
                at=clock() - timedelta(minutes=j + 1),
                country="DE",
                visitor=f"v{j % 5}",
            )
            for j in range(20)
        ]

    async def record(i: int) -> None:
        await stores[i % 3].record_clicks(batch(i))

    await _all(record, 30)
    report = await services[1].get_analytics(P, _query())
    assert report.total_clicks == report.clicks_in_period == 600
    assert report.unique_visitors == 5
    assert sum(c.clicks for c in report.links) == 600
    for link in links:
        one = await services[2].get_analytics(P, _query(link.code))
        assert one.unique_visitors == 5 and one.clicks_in_period == 200


def _query(link: str | None = None) -> AnalyticsQuery:
    return AnalyticsQuery(link=link, period="24h")
