"""MCP at /mcp: what a key's scopes hide is named, prompts included, without SDK prefixes."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import ClyptApp
from clypt_mcp.models import Scope
from tests.conftest import text
from tests.http.test_mcp_http import ORIGIN, _client, _key, app

pytestmark = pytest.mark.anyio
__all__ = ["app"]  # the fixture, shared with test_mcp_http


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_reader_key_sees_no_write_prompt_and_is_told_which_scope_it_lacks(
    app: ClyptApp, service: ClyptService, mode: str
) -> None:
    reader = await _key(service, "default", Scope.LINKS_READ)
    with anyio.fail_after(20):
        async with (
            _client(app, reader) as http,
            Client(streamable_http_client(f"{ORIGIN}/mcp", http_client=http), mode=mode) as c,
        ):
            prompts = {p.name for p in (await c.list_prompts()).prompts}
            assert prompts == set()  # campaign_setup writes links; the report needs analytics
            with pytest.raises(MCPError) as err:
                await c.get_prompt("campaign_setup", {"urls": "https://a.com", "campaign": "c"})
            assert err.value.error.code == -32602 and "links:write" in err.value.error.message
            denied = await c.call_tool("create_link", {"url": "https://e.com"})
            assert denied.is_error
            assert text(denied).startswith("tool 'create_link' is not available")
            assert "'links:write' scope" in text(denied)
            unknown = await c.call_tool("make_coffee", {})
            assert unknown.is_error and "unknown tool 'make_coffee'" in text(unknown)


async def test_a_writer_key_gets_the_campaign_prompt(app: ClyptApp, service: ClyptService) -> None:
    writer = await _key(service, "default", Scope.LINKS_WRITE, Scope.ANALYTICS_READ)
    with anyio.fail_after(20):
        async with (
            _client(app, writer) as http,
            Client(streamable_http_client(f"{ORIGIN}/mcp", http_client=http)) as c,
        ):
            prompts = {p.name for p in (await c.list_prompts()).prompts}
            assert prompts == {"campaign_setup", "performance_report"}
            got = await c.get_prompt("campaign_setup", {"urls": "https://a.com", "campaign": "c"})
            assert got.messages
