"""Shared fixtures: a real store (SQLite in a temp dir, and PostgreSQL in a fresh schema when
CLYPT_TEST_DATABASE_URL is set), the service, and MCP clients."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.server import MCPServer

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.backends.remote import RemoteBackend
from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.models import ALL_SCOPES, ApiKeyCreate, Principal, Scope
from clypt_mcp.store.base import Store
from clypt_mcp.store.sqlite import SqliteStore
from clypt_mcp.tools.server import build_server
from tests.services import unavailable
from tests.store.pg import PgServer, database_url

BASE_URL = "https://clypt.test"


class FakeClock:
    """A clock the tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "clypt.db"


# Every test that uses `store` runs on SQLite and on PostgreSQL; without a server the PostgreSQL
# half is skipped, visibly, with the command that would enable it (tests/services.py).
STORE_KINDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A database for this session on the CLYPT_TEST_DATABASE_URL server."""
    url = database_url()
    if url is None:
        unavailable("postgres", "CLYPT_TEST_DATABASE_URL is not set")
    server = PgServer(url)
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A URL on a fresh, empty PostgreSQL schema."""
    return pg_server.schema()


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        s = SqliteStore(db_path)
        await s.open()
        yield s
        await s.close()
        return
    from clypt_mcp.store.postgres import PostgresStore

    server: PgServer = request.getfixturevalue("pg_server")
    schema = server.lease()
    pg = PostgresStore(server.url_for(schema), max_size=4)
    await pg.open()
    yield pg
    await pg.close()
    server.release(schema)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(store: Store) -> ClyptService:
    return ClyptService(store, base_url=BASE_URL)


@pytest.fixture
def principal() -> Principal:
    return Principal(workspace_id="default", scopes=ALL_SCOPES)


@pytest.fixture
def backend(service: ClyptService, principal: Principal) -> LocalBackend:
    return LocalBackend(service, principal)


ServerFactory = Callable[..., Awaitable[MCPServer]]


@pytest.fixture(params=["local", "remote"])
async def make_server(
    request: pytest.FixtureRequest, service: ClyptService
) -> AsyncIterator[ServerFactory]:
    """`await make_server(scopes, workspace)`: the MCP server over the embedded service
    ("local") or over the REST API of the same service ("remote", in process): the contract
    suite runs every tool test through both backends."""
    async with AsyncExitStack() as stack:

        async def make(
            scopes: frozenset[Scope] = ALL_SCOPES, workspace: str = "default"
        ) -> MCPServer:
            if request.param == "local":
                local = LocalBackend(service, Principal(workspace_id=workspace, scopes=scopes))
                return build_server(lambda: local, scopes)
            remote = await stack.enter_async_context(_remote(service, scopes, workspace))
            return build_server(lambda: remote, await remote.connect())

        yield make


@asynccontextmanager
async def _remote(
    service: ClyptService, scopes: frozenset[Scope], workspace: str
) -> AsyncIterator[RemoteBackend]:
    key = await service.create_api_key(
        workspace, ApiKeyCreate(name="contract", scopes=sorted(scopes))
    )
    settings = Settings(base_url=BASE_URL, rate_limit="100000/minute", dev_allow_loopback=True)
    recorder = ClickRecorder(service.store)
    app = create_app(
        service, settings, recorder, with_mcp=False, store=service.store, clock=service.clock
    )
    transport = httpx2.ASGITransport(app=app)
    async with (
        anyio.create_task_group() as tg,
        httpx2.AsyncClient(transport=transport, base_url="http://clypt.test") as http,
    ):
        tg.start_soon(recorder.run)
        yield RemoteBackend(http, key.secret)
        recorder.close()


@pytest.fixture(params=["auto", "legacy"])
async def client(
    request: pytest.FixtureRequest, make_server: ServerFactory
) -> AsyncIterator[Client]:
    """An in-process client: 'auto' (direct dispatch) and 'legacy' (initialize handshake)."""
    async with Client(await make_server(), mode=request.param) as c:
        yield c


def text(result: Any) -> str:
    """The first text block of a tool result."""
    return str(result.content[0].text)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The parts `make test` could not run (scripts/test), and one line with what the
    crash-safety tests checked, when they ran."""
    for line in os.environ.get("CLYPT_TEST_SKIPPED", "").splitlines():
        if line.strip():
            terminalreporter.write_line(line)
    # One line per reason, not per test (a run without PostgreSQL skips hundreds of tests for
    # one reason); pytest's own per-test list is off (`-r` in pyproject has no `s`).
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in reasons.items():
        terminalreporter.write_line(f"SKIPPED {count} test{'s' * (count != 1)}: {reason}")
    crash = sys.modules.get("tests.e2e.crash")
    if crash is not None and crash.REPORTS:
        terminalreporter.write_line("crash safety: " + "; ".join(crash.REPORTS))
