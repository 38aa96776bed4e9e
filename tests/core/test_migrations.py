"""Migrations: numbered, recorded, and an old store's clicks are rolled up on upgrade."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import CodeTakenError
from clypt_mcp.models import AnalyticsQuery, LinkCreate, Principal
from clypt_mcp.store.rows import migrations
from clypt_mcp.store.sqlite import SqliteStore, _split_sql
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


def _make_v1_store(path: Path, clock: FakeClock) -> None:
    version, script = migrations("sqlite")[0]
    assert version == 1
    now_us = int(clock.now.timestamp() * 1_000_000)
    with sqlite3.connect(path) as db:
        for statement in _split_sql(script):
            db.execute(statement)
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER)")
        db.execute("INSERT INTO schema_version VALUES (1, 0)")
        db.execute("INSERT INTO workspaces VALUES ('default', ?)", (now_us,))
        for code in ("old1", "old2"):
            db.execute(
                "INSERT INTO links (id, workspace_id, code, url, created_at, updated_at) "
                "VALUES (?, 'default', ?, 'https://e.com', ?, ?)",
                (f"lnk_{code}", code, now_us, now_us),
            )
        base = int((clock.now - timedelta(hours=3)).timestamp())
        rows = [
            ("default", "lnk_old1", base + i * 60, "US" if i % 2 else "DE", f"v{i % 3}", 0,
             ("ios", "android", "desktop")[i % 3])
            for i in range(10)
        ] + [("default", "lnk_old2", base, "FR", "v9", 1, None)]  # fmt: skip
        db.executemany(
            "INSERT INTO clicks (workspace_id, link_id, ts, country, visitor, bot, device) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


async def test_opening_a_v1_store_rolls_up_its_clicks(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "old.db"
    _make_v1_store(path, clock)
    store = SqliteStore(path)
    await store.open()
    try:
        assert await store.schema_version() == migrations("sqlite")[-1][0]
        service = ClyptService(store, clock=clock)
        report = await service.get_analytics(Principal(workspace_id="default"), AnalyticsQuery())
        assert report.clicks_in_period == 10  # the bot click is left out
        assert {c.key: c.clicks for c in report.countries} == {"US": 5, "DE": 5}
        assert report.unique_visitors == 3
        assert [(c.key, c.clicks) for c in report.links] == [("old1", 10)]
        # 0004: old platforms become device types (no user agent was kept: ios and android
        # are phones), and the old bot flag the traffic class `crawler`
        assert {c.key: c.clicks for c in report.devices} == {"mobile": 7, "desktop": 3}
        assert {c.key: c.clicks for c in report.traffic} == {"human": 10, "crawler": 1}
    finally:
        await store.close()


async def test_opening_twice_applies_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "clypt.db"
    for _ in range(2):
        store = SqliteStore(path)
        await store.open()
        await store.close()
    with sqlite3.connect(path) as db:
        versions = [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [v for v, _ in migrations("sqlite")]


async def test_links_of_a_store_from_before_domains_stay_on_the_servers_own_host(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "old.db"
    _make_v1_store(path, clock)
    store = SqliteStore(path)
    await store.open()
    try:
        service = ClyptService(store, base_url="https://sho.rt", clock=clock)
        me = Principal(workspace_id="default")
        old = await service.get_link(me, "old1")
        assert (old.domain, old.short_url) == ("sho.rt", "https://sho.rt/old1")
        assert (await store.link_on_domain(None, "old1")) is not None
        # codes are unique per domain from now on: the old code is free on a new domain
        await service.operator_add_domain("default", "go.example.org", verified=True)
        again = await service.create_link(
            me, LinkCreate(url="https://e.com/new", code="old1", domain="go.example.org")
        )
        assert again.short_url == "https://go.example.org/old1"
        with pytest.raises(CodeTakenError):
            await service.create_link(me, LinkCreate(url="https://e.com/x", code="old2"))
    finally:
        await store.close()
