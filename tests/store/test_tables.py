"""The Store's whole-store operations, on every store: row counts, dumps, loads, copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import ConflictError
from clypt_mcp.models import ALL_SCOPES, ApiKeyCreate, ClickEvent, LinkCreate, Principal
from clypt_mcp.store import open_store
from clypt_mcp.store.base import TABLES, Store
from clypt_mcp.store.copy import copy_store, has_data
from clypt_mcp.store.postgres import PostgresStore
from clypt_mcp.store.sqlite import SqliteStore
from tests.conftest import FakeClock
from tests.store.dump import dump_all

pytestmark = pytest.mark.anyio

P = Principal(workspace_id="default", scopes=ALL_SCOPES)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (None, SqliteStore),
        ("sqlite:///x.db", SqliteStore),
        ("postgresql://u:p@db.example/clypt", PostgresStore),
        ("postgres://db.example/clypt", PostgresStore),
        ("PostgreSQL://db.example/clypt", PostgresStore),
    ],
)
def test_open_store_picks_the_store_by_url(url: str | None, kind: type, tmp_path: Path) -> None:
    store = open_store(url, tmp_path / "clypt.db")
    assert isinstance(store, kind)
    if isinstance(store, SqliteStore):
        assert store.path == str(tmp_path / "clypt.db")


async def _some_data(store: Store, clock: FakeClock) -> None:
    service = ClyptService(store, base_url="https://c.test", clock=clock)
    await service.create_folder(P, "Outer", None)
    await service.create_folder(P, "Inner", "Outer")
    made = await service.create_link(
        P, LinkCreate(url="https://e.com/a", code="alpha", tags=["t1", "t2"], folder="Outer/Inner")
    )
    await service.create_link(P, LinkCreate(url="https://e.com/b"), idempotency_key="k1")
    await service.create_api_key("default", ApiKeyCreate(name="ci"))
    at = clock.now
    await store.record_clicks(
        [ClickEvent(link_id=made.id, workspace_id="default", at=at, visitor="v1", country="DE")]
    )


async def test_count_rows_and_clear_all(store: Store, clock: FakeClock) -> None:
    assert not await has_data(store)
    await _some_data(store, clock)
    counts = {t: await store.count_rows(t) for t in TABLES}
    assert counts["links"] == 2 and counts["folders"] == 2 and counts["clicks"] == 1
    assert counts["rollups"] > 0 and counts["visitor_days"] == 2
    assert await has_data(store)
    await store.clear_all()
    assert not await has_data(store)
    with pytest.raises(ValueError):
        await store.count_rows("sqlite_master")


async def test_dump_pages_by_key_and_load_puts_rows_back(store: Store, clock: FakeClock) -> None:
    await _some_data(store, clock)
    everything = await dump_all(store)
    assert await dump_all(store, batch=1) == everything
    await store.clear_all()
    for table, rows in everything.items():
        if table == "folders":  # parents first
            rows = sorted(rows, key=lambda r: r[2] is not None)
        await store.load_rows(table, rows)
    assert await dump_all(store) == everything
    with pytest.raises(ConflictError):
        await store.load_rows("links", everything["links"][:1])
    service = ClyptService(store, base_url="https://c.test", clock=clock)
    link = await service.get_link(P, "alpha")
    assert (link.tags, link.folder, link.clicks) == (["t1", "t2"], "Outer/Inner", 1)


async def test_copy_between_two_sqlite_stores(tmp_path: Path, clock: FakeClock) -> None:
    source, target = SqliteStore(tmp_path / "a.db"), SqliteStore(tmp_path / "b.db")
    await source.open()
    await target.open()
    try:
        await _some_data(source, clock)
        own = await target.visitor_secret()  # e.g. `serve` was started on it once
        copied = await copy_store(source, target)
        assert copied == {t: await source.count_rows(t) for t in TABLES}
        assert await dump_all(target) == await dump_all(source)
        assert await target.visitor_secret() == await source.visitor_secret() != own
        with pytest.raises(ConflictError):
            await copy_store(source, target)
    finally:
        await source.close()
        await target.close()


async def test_links_with_codes_finds_codes_in_any_case_and_skips_deleted_links(
    store: Store, clock: FakeClock
) -> None:
    service = ClyptService(store, clock=clock)
    for code in ("Token", "keep", "authorize", "register"):  # reserved codes of an older version
        link = await service.create_link(P, LinkCreate(url="https://e.com/", code=f"x{code}"))
        await store.update_link("default", link.id, {"code": code}, None)
    await service.delete_link(P, "register")
    found = await store.links_with_codes(["authorize", "register", "token"])
    assert sorted(found) == [("default", "Token"), ("default", "authorize")]
    assert await store.links_with_codes([]) == []
