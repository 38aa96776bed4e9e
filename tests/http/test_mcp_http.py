"""MCP at /mcp and /sse inside the HTTP app: a Bearer key is required, its scopes decide."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import ClyptApp, create_app
from clypt_mcp.models import ApiKeyCreate, Scope
from tests.conftest import text

pytestmark = pytest.mark.anyio
ORIGIN = "http://127.0.0.1:8080"


@pytest.fixture
async def app(service: ClyptService) -> AsyncIterator[ClyptApp]:
    settings = Settings(base_url=ORIGIN)
    service.base_url = ORIGIN
    recorder = ClickRecorder(service.store)
    made = create_app(service, settings, recorder, store=service.store, clock=service.clock)
    async with anyio.create_task_group() as tg, made.main.router.lifespan_context(made.main):
        tg.start_soon(recorder.run)
        yield made
        recorder.close()


async def _key(service: ClyptService, workspace: str, *scopes: Scope) -> str:
    created = await service.create_api_key(workspace, ApiKeyCreate(name="t", scopes=list(scopes)))
    return created.secret


def _client(app: ClyptApp, key: str | None) -> httpx2.AsyncClient:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url=ORIGIN, headers=headers
    )


async def test_mcp_without_a_key_is_401(app: ClyptApp) -> None:
    async with _client(app, None) as http:
        r = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 401
    assert "bearer" in r.headers["www-authenticate"].lower()


async def test_a_bad_key_is_401(app: ClyptApp) -> None:
    async with _client(app, "clypt_not-a-real-key-at-all-xxxxxxxxxxxxxx") as http:
        r = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 401


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_key_scopes_decide_tools_and_workspace(
    app: ClyptApp, service: ClyptService, mode: str
) -> None:
    writer = await _key(service, "team-a", Scope.LINKS_WRITE, Scope.ANALYTICS_READ)
    reader = await _key(service, "team-a", Scope.LINKS_READ)
    other = await _key(service, "team-b", Scope.LINKS_WRITE)
    with anyio.fail_after(20):
        async with (
            _client(app, writer) as http,
            Client(streamable_http_client(f"{ORIGIN}/mcp", http_client=http), mode=mode) as c,
        ):
            names = {t.name for t in (await c.list_tools()).tools}
            assert {"create_link", "get_analytics", "list_links"} <= names
            assert "manage_tags" not in names
            made = await c.call_tool("create_link", {"url": "https://e.com/a", "code": "team-a"})
            assert not made.is_error, text(made)
            denied = await c.call_tool("manage_tags", {"action": "list"})
            assert denied.is_error and "'tags:read' scope" in text(denied)
        async with (
            _client(app, reader) as http,
            Client(streamable_http_client(f"{ORIGIN}/mcp", http_client=http), mode=mode) as c,
        ):
            names = {t.name for t in (await c.list_tools()).tools}
            assert names == {"list_links", "get_link", "get_qr_code", "export_links",
                             "list_jobs", "get_job", "cancel_job"}  # fmt: skip
            got = await c.call_tool("get_link", {"link": "team-a"})
            assert not got.is_error
            refused = await c.call_tool("create_link", {"url": "https://e.com/b"})
            assert refused.is_error and "'links:write' scope" in text(refused)
        async with (
            _client(app, other) as http,
            Client(streamable_http_client(f"{ORIGIN}/mcp", http_client=http), mode=mode) as c,
        ):
            hidden = await c.call_tool("get_link", {"link": "team-a"})
            assert hidden.is_error and "no link 'team-a'" in text(hidden)


async def test_mcp_and_sse_on_the_real_served_app(service: ClyptService) -> None:
    from mcp.client.sse import sse_client

    from tests.http.live import serving

    key = (await service.create_api_key("default", ApiKeyCreate(name="live"))).secret
    auth = {"authorization": f"Bearer {key}"}
    async with serving(service) as origin:
        with anyio.fail_after(30):
            async with (
                httpx2.AsyncClient(headers=auth) as http,
                Client(
                    streamable_http_client(f"{origin}/mcp", http_client=http), mode="legacy"
                ) as c,
            ):
                made = await c.call_tool(
                    "create_link", {"url": "https://e.com/live", "code": "live"}
                )
                assert not made.is_error, text(made)
            async with Client(sse_client(f"{origin}/sse", headers=auth)) as c:
                got = await c.call_tool("get_link", {"link": "live"})
                assert not got.is_error, text(got)
            async with httpx2.AsyncClient() as http:
                denied = await http.post(f"{origin}/mcp", json={"jsonrpc": "2.0", "id": 1,
                                                                "method": "ping"})  # fmt: skip
            assert denied.status_code == 401
