"""REST API fixtures: the app in process over ASGITransport, keys per workspace and scope."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import httpx2
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.models import ALL_SCOPES, ApiKeyCreate, Scope
from tests.conftest import BASE_URL
from tests.http.live import steady_rate_window
from tests.http.rest import Api

KeyFactory = Callable[..., Awaitable[str]]
ApiFactory = Callable[..., AbstractAsyncContextManager[Api]]


@pytest.fixture
def make_key(service: ClyptService) -> KeyFactory:
    """`await make_key(*scopes, workspace="default")` → the secret of a new key."""

    async def make(*scopes: Scope, workspace: str = "default") -> str:
        data = ApiKeyCreate(name="test", scopes=list(scopes) if scopes else sorted(ALL_SCOPES))
        return (await service.create_api_key(workspace, data)).secret

    return make


@pytest.fixture
async def admin_key(make_key: KeyFactory) -> str:
    """Every scope, in workspace `default`."""
    return await make_key()


@pytest.fixture
async def other_key(make_key: KeyFactory) -> str:
    """Every scope, in another workspace."""
    return await make_key(workspace="other")


@pytest.fixture
def make_api(service: ClyptService) -> ApiFactory:
    """`async with make_api(rate_limit="3/minute") as api:` the app, in process."""

    @asynccontextmanager
    async def make(rate_limit: str = "1000/minute") -> AsyncIterator[Api]:
        settings = Settings(base_url=BASE_URL, rate_limit=rate_limit, dev_allow_loopback=True)
        recorder = ClickRecorder(service.store)
        app = create_app(
            service, settings, recorder, with_mcp=False, store=service.store, clock=service.clock
        )
        steady_rate_window(app)
        transport = httpx2.ASGITransport(app=app)
        async with (
            anyio.create_task_group() as tg,
            httpx2.AsyncClient(transport=transport, base_url="http://clypt.test") as http,
        ):
            tg.start_soon(recorder.run)
            document = (await http.get("/api/v1/openapi.json")).json()
            yield Api(http, document)
            recorder.close()

    return make


@pytest.fixture
async def api(make_api: ApiFactory) -> AsyncIterator[Api]:
    async with make_api() as made:
        yield made
