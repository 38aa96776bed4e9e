"""#16 acceptance 3 with real `serve` processes: kill -9 with 1,000 events pending loses none
(SQLite and PostgreSQL), and three `serve` processes on one PostgreSQL share the deliveries
without sending one twice at the same time."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ALL_SCOPES, Principal, WebhookCreate
from clypt_mcp.store.base import Store
from clypt_mcp.store.sqlite import SqliteStore
from tests.http.live import start_serve

pytestmark = pytest.mark.anyio
ME = Principal(workspace_id="default", scopes=ALL_SCOPES)


class SlowReceiver:
    """A receiver on 127.0.0.1 that verifies every request, records when each webhook-id was
    in flight, and takes `delay` seconds per answer."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.secrets: list[str] = []
        self.seen: list[str] = []
        self.in_flight: dict[str, int] = {}
        self.overlaps: list[str] = []
        self.bad: list[str] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    k, _, v = h.decode().partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                # the same event goes to each endpoint: one per path here
                msg_id = line.split()[1].decode() + " " + headers.get("webhook-id", "")
                if self.in_flight.get(msg_id):
                    self.overlaps.append(msg_id)
                self.in_flight[msg_id] = self.in_flight.get(msg_id, 0) + 1
                if not any(self._verifies(s, body, headers) for s in self.secrets):
                    self.bad.append(msg_id)
                await asyncio.sleep(self.delay)
                self.seen.append(msg_id)
                self.in_flight[msg_id] -= 1
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
        try:
            Verifier(secret).verify(body, headers)
            return True
        except Exception:
            return False

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SlowReceiver]:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()

    def url(self, n: int = 0) -> str:
        return f"http://127.0.0.1:{self.port}/hook{n}"


async def open_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[Store, dict[str, str]]:
    if kind == "sqlite":
        db = tmp_path / "clypt.db"
        store: Store = SqliteStore(db)
        env = {"CLYPT_DATABASE_URL": f"sqlite:///{db}"}
    else:
        from clypt_mcp.store.postgres import PostgresStore

        url = request.getfixturevalue("pg_url")
        store = PostgresStore(url, max_size=4)
        env = {"CLYPT_DATABASE_URL": url}
    await store.open()
    return store, env | {"CLYPT_DEV_ALLOW_LOOPBACK": "true"}


async def make_events(
    service: ClyptService, receiver: SlowReceiver, links: int, hooks: int = 1
) -> list[str]:
    for n in range(hooks):
        made = await service.webhooks.create(
            ME, WebhookCreate(url=receiver.url(n), events=["link.created"])
        )
        receiver.secrets.append(made.secret)
    for start in range(0, links, 100):
        items = [{"url": f"https://example.com/{i}"} for i in range(start, min(links, start + 100))]
        assert not (await service.bulk_create_links(ME, items)).errors
    rows = await service.store.dump_table("links", None, links + 10)
    assert len(rows) == links
    return [str(r[0]) for r in rows]


async def wait_for(check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await anyio.sleep(0.1)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_kill_9_with_1000_pending_loses_no_event(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store, env = await open_store(kind, tmp_path, request)
    try:
        service = ClyptService(store)
        service.webhooks.allow_loopback = True
        receiver = SlowReceiver(delay=0.002)
        async with receiver.running():
            await make_events(service, receiver, 1000)
            pending = await store.webhooks.pending_count()
            assert pending == 1000
            db = tmp_path / "clypt.db"
            proc, _ = await anyio.to_thread.run_sync(lambda: start_serve(db, **env))
            await wait_for(lambda: len(receiver.seen) >= 20, 30)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            left = await store.webhooks.pending_count()
            assert 0 < left < 1000, "the kill came too late to prove anything"
            started = time.monotonic()
            proc, _ = await anyio.to_thread.run_sync(lambda: start_serve(db, **env))
            try:
                await wait_for(lambda: len(set(receiver.seen)) >= 1000, 120)
                took = time.monotonic() - started
            finally:
                proc.terminate()
                proc.wait(15)
        assert await store.webhooks.pending_count() == 0
        assert receiver.bad == [] and receiver.overlaps == []
        assert len(set(receiver.seen)) == 1000
        # a retry of what was in flight at the kill is the only repeat
        assert len(receiver.seen) - 1000 <= 2
        assert took < 90  # the killed worker's lease lapses in 30 s
    finally:
        await store.close()


async def test_three_serves_on_one_postgres_share_the_work(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store, env = await open_store("postgres", tmp_path, request)
    procs = []
    try:
        service = ClyptService(store)
        service.webhooks.allow_loopback = True
        receiver = SlowReceiver(delay=0.002)
        async with receiver.running():
            await make_events(service, receiver, 400, hooks=3)
            assert await store.webhooks.pending_count() == 1200
            db = tmp_path / "clypt.db"
            for _ in range(3):
                procs.append(await anyio.to_thread.run_sync(lambda: start_serve(db, **env)))
            await wait_for(lambda: len(receiver.seen) >= 1200, 120)
            await anyio.sleep(1)
        assert receiver.overlaps == [] and receiver.bad == []
        assert len(receiver.seen) == len(set(receiver.seen)) == 1200  # each once, none twice
        assert await store.webhooks.pending_count() == 0
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(15)
        await store.close()
