"""PostgreSQL failures: lost connections are retried, a missing server is UnavailableError, and
no SQL text reaches a message."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import anyio
import psycopg
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import ClyptError, UnavailableError
from clypt_mcp.models import ALL_SCOPES, LinkCreate, Principal
from clypt_mcp.store.postgres import PostgresStore

# every test here needs the PostgreSQL server: skipped, with how to get one, without it
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pg_server")]


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://clypt:secret@127.0.0.1:{port}/clypt"


async def test_an_unreachable_server_is_unavailable_after_bounded_retries() -> None:
    store = PostgresStore(_closed_port_url(), attempts=2)
    with anyio.fail_after(10), pytest.raises(UnavailableError) as caught:
        await store.open()
    assert "127.0.0.1" in caught.value.message and "secret" not in caught.value.message


async def test_connections_lost_between_calls_are_replaced(pg_url: str) -> None:
    store = PostgresStore(f"{pg_url}&application_name=victim", min_size=2, max_size=2)
    await store.open()
    try:
        service = ClyptService(store)
        principal = Principal(workspace_id="default", scopes=ALL_SCOPES)
        await service.create_link(principal, LinkCreate(url="https://e.com/1", code="first"))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'victim'"
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        with anyio.fail_after(10):
            made = await service.create_link(principal, LinkCreate(url="https://e.com/2"))
            assert (await service.get_link(principal, "first")).url == "https://e.com/1"
        assert made.url == "https://e.com/2"
        assert await store.count_links() == 2
    finally:
        await store.close()


async def test_a_database_error_reaches_no_one_as_sql(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    try:
        with pytest.raises(ClyptError) as caught:
            await store._run(lambda q: q.scalar("SELECT no_such_column FROM links"))
    finally:
        await store.close()
    assert type(caught.value) is ClyptError and caught.value.code == "internal_error"
    assert "no_such_column" not in str(caught.value) and "SELECT" not in str(caught.value)
    assert "no_such_column" in caplog.text  # the operator's log has the details


@pytest.mark.serial  # a wall-clock bound
async def test_a_write_its_caller_stopped_waiting_for_is_rolled_back(pg_url: str) -> None:
    """A deadline (the outage guard's, the health probe's) returns at once, and the write
    still running in its thread does not commit afterwards behind the caller's back."""
    import time

    from clypt_mcp.store.sql import Q

    store = PostgresStore(pg_url)
    await store.open()
    try:
        await store.ensure_workspace("late", datetime.now(UTC))

        def slow_write(q: Q) -> None:
            q.run("DELETE FROM workspaces WHERE id = :id", {"id": "late"})
            time.sleep(1.0)  # the database is slow; the caller gives up meanwhile

        started = time.monotonic()
        with pytest.raises(TimeoutError), anyio.fail_after(0.2):
            await store.db.run(slow_write, write=True)
        assert time.monotonic() - started < 0.8  # not held until the database answered
        await anyio.sleep(1.5)  # the abandoned thread has finished by now
        rows = await store.db.run(
            lambda q: q.scalar("SELECT COUNT(*) FROM workspaces WHERE id = :id", {"id": "late"})
        )
        assert rows == 1  # the delete was rolled back, never committed
    finally:
        await store.close()
