"""PostgreSQL migrations: numbered, applied once however many processes start together."""

from __future__ import annotations

from datetime import timedelta

import anyio
import psycopg
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import AnalyticsQuery, Principal
from clypt_mcp.store.postgres import PostgresStore
from clypt_mcp.store.rows import migrations
from tests.conftest import FakeClock

# every test here needs the PostgreSQL server: skipped, with how to get one, without it
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pg_server")]

LATEST = migrations("postgres")[-1][0]


def _versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


async def test_three_openers_at_once_apply_each_migration_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(3)]
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for store in stores:
                tg.start_soon(store.open)
    try:
        assert [await s.schema_version() for s in stores] == [LATEST] * 3
        assert _versions(pg_url) == [v for v, _ in migrations("postgres")]
    finally:
        for store in stores:
            await store.close()


async def test_opening_again_applies_nothing(pg_url: str) -> None:
    for _ in range(2):
        store = PostgresStore(pg_url)
        await store.open()
        await store.close()
    assert _versions(pg_url) == [v for v, _ in migrations("postgres")]


def _make_v1_store(url: str, clock: FakeClock) -> None:
    version, script = migrations("postgres")[0]
    assert version == 1
    now_us = int(clock.now.timestamp() * 1_000_000)
    base = int((clock.now - timedelta(hours=3)).timestamp())
    with psycopg.connect(url) as conn:
        conn.execute(script.encode())
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT)")
        conn.execute("INSERT INTO schema_version VALUES (1, 0)")
        conn.execute("INSERT INTO workspaces VALUES ('default', %s)", (now_us,))
        for code in ("old1", "old2"):
            conn.execute(
                "INSERT INTO links (id, workspace_id, code, url, created_at, updated_at) "
                "VALUES (%s, 'default', %s, 'https://e.com', %s, %s)",
                (f"lnk_{code}", code, now_us, now_us),
            )
        rows = [
            ("default", "lnk_old1", base + i * 60, "US" if i % 2 else "DE", f"v{i % 3}", 0)
            for i in range(10)
        ] + [("default", "lnk_old2", base, "FR", "v9", 1)]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO clicks (workspace_id, link_id, ts, country, visitor, bot) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )


async def test_opening_a_v1_store_rolls_up_its_clicks(pg_url: str, clock: FakeClock) -> None:
    _make_v1_store(pg_url, clock)
    store = PostgresStore(pg_url)
    await store.open()
    try:
        assert await store.schema_version() == LATEST
        service = ClyptService(store, clock=clock)
        report = await service.get_analytics(Principal(workspace_id="default"), AnalyticsQuery())
        assert report.clicks_in_period == 10  # the bot click is left out
        assert {c.key: c.clicks for c in report.countries} == {"US": 5, "DE": 5}
        assert report.unique_visitors == 3
        assert [(c.key, c.clicks) for c in report.links] == [("old1", 10)]
        with_bots = await service.get_analytics(
            Principal(workspace_id="default"), AnalyticsQuery(include_bots=True)
        )
        assert with_bots.clicks_in_period == 11
    finally:
        await store.close()
