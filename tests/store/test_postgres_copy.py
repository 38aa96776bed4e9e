"""`db copy`: an embedded SQLite store moved into PostgreSQL answers every query the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import ConflictError
from clypt_mcp.models import ALL_SCOPES, AnalyticsQuery, LinkCreate, LinkQuery, Principal
from clypt_mcp.store.base import TABLES
from clypt_mcp.store.copy import copy_store, parents_first
from clypt_mcp.store.postgres import PostgresStore
from clypt_mcp.store.sqlite import SqliteStore
from tests.conftest import FakeClock
from tests.store.bigstore import WORKSPACES, fill
from tests.store.dump import dump_all

# every test here needs the PostgreSQL server: skipped, with how to get one, without it
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pg_server")]


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "source.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def postgres(pg_url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(pg_url)
    await store.open()
    yield store
    await store.close()


async def _pages(
    service: ClyptService, principal: Principal, query: LinkQuery, most: int = 1000
) -> list[Any]:
    """The first `most` pages of a listing, as wire JSON."""
    pages: list[Any] = []
    while len(pages) < most:
        page = await service.list_links(principal, query)
        pages.append(page.model_dump(mode="json"))
        if page.next_cursor is None:
            break
        query = query.model_copy(update={"cursor": page.next_cursor})
    return pages


LISTINGS = [
    LinkQuery(sort="-clicks", limit=100),
    LinkQuery(sort="code", status="all", limit=100),
    LinkQuery(sort="-code", query="autumn", limit=100),
    LinkQuery(tag="tag3", limit=100),
    LinkQuery(folder="Marketing", status="all", limit=100),
    LinkQuery(status="expired", limit=100),
    LinkQuery(status="disabled", sort="clicks", limit=100),
    LinkQuery(status="deleted", limit=100),
]

REPORTS = [
    *(AnalyticsQuery(period=period, top=50) for period in ("24h", "7d", "30d", "90d", "all")),
    AnalyticsQuery(period="30d", timezone="America/New_York", interval="week"),
    AnalyticsQuery(period="90d", interval="month", timezone="Asia/Kolkata", include_bots=True),
    AnalyticsQuery(period="24h", interval="hour", top=5),
    AnalyticsQuery(tag="Tag3", period="90d"),
    AnalyticsQuery(folder="Marketing", period="all", top=50),
]


async def test_a_copy_of_10000_links_and_100000_clicks_answers_the_same(
    sqlite: SqliteStore, postgres: PostgresStore, clock: FakeClock
) -> None:
    link_ids = await fill(sqlite, clock.now, links=10_000, clicks=100_000)
    progress: dict[str, tuple[int, int]] = {}
    copied = await copy_store(sqlite, postgres, lambda t, d, n: progress.update({t: (d, n)}))

    counts = {table: await sqlite.count_rows(table) for table in TABLES}
    assert counts["links"] == 10_000 and counts["clicks"] == 100_000
    assert copied == counts
    assert {table: await postgres.count_rows(table) for table in TABLES} == counts
    assert progress == {table: (n, n) for table, n in counts.items()}

    before, after = (
        ClyptService(s, base_url="https://c.test", clock=clock) for s in (sqlite, postgres)
    )
    for ws in WORKSPACES:
        principal = Principal(workspace_id=ws, scopes=ALL_SCOPES)
        first = await _pages(before, principal, LinkQuery(limit=100))
        assert sum(len(p["links"]) for p in first) == first[0]["total"] > 1000
        assert await _pages(after, principal, LinkQuery(limit=100)) == first
        for listing in LISTINGS:
            assert await _pages(after, principal, listing, 3) == await _pages(
                before, principal, listing, 3
            ), listing
        for report in REPORTS:
            expected = await before.get_analytics(principal, report)
            assert (await after.get_analytics(principal, report)) == expected, report
        assert expected.total_clicks > 0
    default = Principal(workspace_id="default", scopes=ALL_SCOPES)
    for link_id in link_ids[:5] + link_ids[-200::40]:
        record = await sqlite.get_link(None, link_id=link_id)
        assert record is not None
        principal = Principal(workspace_id=record.workspace_id, scopes=ALL_SCOPES)
        query = AnalyticsQuery(link=link_id, period="all", top=50)
        assert await after.get_analytics(principal, query) == await before.get_analytics(
            principal, query
        )
        assert await after.get_link(principal, link_id) == await before.get_link(principal, link_id)
    # the copy goes on working: new links and clicks continue after the copied ones
    made = await after.create_link(default, LinkCreate(url="https://e.com/new", tags=["tag3"]))
    assert made.tags == ["Tag3"]  # the copied tag, matched regardless of case


async def test_a_copy_back_to_sqlite_keeps_every_row(
    sqlite: SqliteStore, postgres: PostgresStore, clock: FakeClock
) -> None:
    await fill(postgres, clock.now, links=300, clicks=3000, seed=5)
    await copy_store(postgres, sqlite)
    assert await dump_all(sqlite) == await dump_all(postgres)


async def test_a_target_with_data_is_refused_unless_forced(
    sqlite: SqliteStore, postgres: PostgresStore, clock: FakeClock
) -> None:
    await fill(sqlite, clock.now, links=50, clicks=200)
    service = ClyptService(postgres, clock=clock)
    await service.create_link(Principal(workspace_id="elsewhere"), LinkCreate(url="https://e.com"))
    with pytest.raises(ConflictError):
        await copy_store(sqlite, postgres)
    assert await postgres.count_links() == 1
    own = await postgres.visitor_secret()
    await copy_store(sqlite, postgres, force=True)
    assert await dump_all(postgres) == await dump_all(sqlite)
    assert await postgres.visitor_secret() == await sqlite.visitor_secret() != own


def test_folders_are_copied_parents_first() -> None:
    rows = [
        ("a", "w", "b", "leaf", 0),
        ("b", "w", "c", "middle", 0),
        ("c", "w", None, "root", 0),
        ("d", "w", None, "other", 0),
    ]
    ordered = [row[0] for row in parents_first(rows)]
    assert ordered.index("c") < ordered.index("b") < ordered.index("a")
    assert sorted(ordered) == ["a", "b", "c", "d"]
