"""State every process on a store shares: the visitor-hash secret and rate-limit counters, on
every store (and on several connections to one database at once)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import pytest

from clypt_mcp.errors import ClyptError
from clypt_mcp.store.base import VISITOR_SECRET_BYTES, Store
from clypt_mcp.store.postgres import PostgresStore
from clypt_mcp.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

Opener = Callable[[], Store]


def _opener(store: Store) -> Opener:
    """Makes more stores (each its own connections) on the database `store` uses."""
    if isinstance(store, SqliteStore):
        return lambda: SqliteStore(store.path)
    assert isinstance(store, PostgresStore)
    return lambda: PostgresStore(store.url, max_size=2)


@asynccontextmanager
async def _others(store: Store, n: int) -> AsyncIterator[list[Store]]:
    opener = _opener(store)
    async with AsyncExitStack() as stack:
        others = []
        for _ in range(n):
            other = opener()
            await other.open()
            stack.push_async_callback(other.close)
            others.append(other)
        yield others


async def test_the_visitor_secret_is_made_once_and_kept(store: Store) -> None:
    secret = await store.visitor_secret()
    assert len(secret) == VISITOR_SECRET_BYTES
    assert await store.visitor_secret() == secret


async def test_processes_asking_at_once_get_one_secret(store: Store) -> None:
    found: list[bytes] = []
    async with _others(store, 4) as others:

        async def ask(s: Store) -> None:
            found.append(await s.visitor_secret())

        async with anyio.create_task_group() as tg:
            for other in others:
                tg.start_soon(ask, other)
    assert len(found) == 4 and len(set(found)) == 1
    assert await store.visitor_secret() == found[0]


async def test_a_legacy_visitor_key_file_is_adopted(tmp_path: Path) -> None:
    legacy = bytes(range(32))
    (tmp_path / "clypt.db.visitor-key").write_text(legacy.hex())
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    try:
        assert await store.visitor_secret() == legacy
        (tmp_path / "clypt.db.visitor-key").unlink()  # from now on the database holds it
        assert await store.visitor_secret() == legacy
    finally:
        await store.close()


async def test_a_damaged_legacy_key_file_is_reported_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "clypt.db.visitor-key").write_text("garbage")
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    try:
        with pytest.raises(ClyptError, match="does not hold a visitor-hash secret"):
            await store.visitor_secret()
        assert (tmp_path / "clypt.db.visitor-key").read_text() == "garbage"
    finally:
        await store.close()


async def test_requests_are_counted_up_to_the_limit_per_key_and_window(store: Store) -> None:
    a, b = _key(), _key()
    counts = [await store.count_request(a, 600, 3) for _ in range(5)]
    assert counts == [1, 2, 3, None, None]
    assert await store.count_request(b, 600, 3) == 1
    assert await store.count_request(a, 660, 3) == 1  # a new window starts afresh
    assert await store.count_request(a, 660, 0) is None


async def test_request_count_reads_without_counting(store: Store) -> None:
    a = _key()
    assert await store.request_count(a, 60) == 0
    await store.count_request(a, 60, 5)
    await store.count_request(a, 60, 5)
    assert await store.request_count(a, 60) == 2
    assert await store.request_count(a, 60) == 2  # reading twice counts nothing
    assert await store.request_count(a, 120) == 0  # another window
    assert await store.request_count(_key(), 60) == 0  # another key


async def test_a_new_window_deletes_the_keys_older_ones(store: Store) -> None:
    a, b = _key(), _key()
    for start in (0, 60, 120):
        await store.count_request(a, start, 10)
        await store.count_request(a, start, 10)
    await store.count_request(b, 0, 10)
    assert await _rate_rows(store, a) == [(120, 2)]
    assert await _rate_rows(store, b) == [(0, 1)]


async def test_counts_are_exact_when_processes_race(store: Store) -> None:
    results: list[int | None] = []
    key = _key()
    async with _others(store, 3) as others:

        async def hammer(s: Store) -> None:
            for _ in range(40):
                results.append(await s.count_request(key, 3600, 50))

        async with anyio.create_task_group() as tg:
            for other in others:
                for _ in range(2):
                    tg.start_soon(hammer, other)
    allowed = sorted(r for r in results if r is not None)
    assert allowed == list(range(1, 51))  # each count handed out once
    assert len(results) - len(allowed) == 240 - 50


def _key() -> str:
    """A key no other test uses (PostgreSQL schemas are reused between tests)."""
    return f"key_{uuid.uuid4().hex}"


async def _rate_rows(store: Store, key: str) -> list[tuple[int, int]]:
    if isinstance(store, SqliteStore):
        sql = "SELECT window_start, count FROM rate_limits WHERE key = ? ORDER BY window_start"
        rows = store.conn.execute(sql, (key,)).fetchall()
    else:
        assert isinstance(store, PostgresStore)
        sql = "SELECT window_start, count FROM rate_limits WHERE key = %s ORDER BY window_start"
        with store.pool.connection() as conn:
            rows = conn.execute(sql, (key,)).fetchall()
    return [(int(w), int(c)) for w, c in rows]
