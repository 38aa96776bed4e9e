"""Shared fixtures: a real SQLite store in a temp dir, the service, and MCP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server import MCPServer

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ALL_SCOPES, Principal, Scope
from clypt_mcp.store.sqlite import SqliteStore
from clypt_mcp.tools.server import build_server

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


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(db_path)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(store: SqliteStore) -> ClyptService:
    return ClyptService(store, base_url=BASE_URL)


@pytest.fixture
def principal() -> Principal:
    return Principal(workspace_id="default", scopes=ALL_SCOPES)


@pytest.fixture
def backend(service: ClyptService, principal: Principal) -> LocalBackend:
    return LocalBackend(service, principal)


ServerFactory = Callable[..., MCPServer]


@pytest.fixture
def make_server(service: ClyptService) -> ServerFactory:
    def make(scopes: frozenset[Scope] = ALL_SCOPES, workspace: str = "default") -> MCPServer:
        backend = LocalBackend(service, Principal(workspace_id=workspace, scopes=scopes))
        return build_server(lambda: backend, scopes)

    return make


@pytest.fixture(params=["auto", "legacy"])
async def client(
    request: pytest.FixtureRequest, make_server: ServerFactory
) -> AsyncIterator[Client]:
    """An in-process client: 'auto' (direct dispatch) and 'legacy' (initialize handshake)."""
    async with Client(make_server(), mode=request.param) as c:
        yield c


def text(result: Any) -> str:
    """The first text block of a tool result."""
    return str(result.content[0].text)
