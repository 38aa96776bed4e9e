"""Analytics as an MCP App (#18 item 3, acceptance 4 and 5): get_analytics and get_link point at
`ui://clypt/analytics`, which reads as one self-contained HTML document with the extension's
MIME type; clients that did not negotiate the extension list the same resources as before."""

from __future__ import annotations

import json
import re
from typing import Any, get_args

import pytest
from mcp import Client
from mcp.client.extension import ClientExtension

from clypt_mcp.core.chart import STYLE
from clypt_mcp.models import ALL_SCOPES, Interval, Period, Scope
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio

URI = "ui://clypt/analytics"
MIME = "text/html;profile=mcp-app"


class AppsHost(ClientExtension):
    """What a host that shows MCP Apps advertises."""

    identifier = "io.modelcontextprotocol/ui"

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [MIME]}


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_the_analytics_tools_name_the_view_and_it_reads_as_an_app(
    make_server: ServerFactory, mode: str
) -> None:
    async with Client(await make_server(), mode=mode, extensions=[AppsHost()]) as c:
        assert c.server_capabilities is not None
        if c.protocol_version > "2025-11-25":  # the SDK leaves `extensions` out before
            assert "io.modelcontextprotocol/ui" in (c.server_capabilities.extensions or {})
        tools = {t.name: t for t in (await c.list_tools()).tools}
        for name in ("get_analytics", "get_link"):
            assert tools[name].meta == {"ui": {"resourceUri": URI}}, name
        for name in ("create_link", "list_links", "get_qr_code"):
            assert not (tools[name].meta or {}).get("ui"), name
        listed = {str(r.uri): r for r in (await c.list_resources()).resources}
        assert listed[URI].mime_type == MIME
        read = await c.read_resource(URI)
    (content,) = read.contents
    assert content.mime_type == MIME
    # the CSP declaration names no outside origin at all
    assert content.meta == {"ui": {"csp": {}, "prefersBorder": True}}
    html = content.text  # type: ignore[union-attr]
    assert html.startswith("<!doctype html>")
    assert 'name="viewport" content="width=device-width' in html
    # self-contained: no element loads anything, no URL but the SVG namespace
    assert not re.search(r"<(script|img|link|iframe|object|embed)[^>]*\s(src|href)=", html, re.I)
    assert not re.search(r"@import|url\(", html)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}, urls
    assert "fetch(" not in html and "XMLHttpRequest" not in html and "WebSocket" not in html
    config = json.loads(re.search(r'id="clypt-config">(.*?)</script>', html, re.S)[1])  # type: ignore[index]
    assert config["periods"] == list(get_args(Period))
    assert config["intervals"] == list(get_args(Interval))
    assert config["tool"] == "get_analytics"
    assert config["style"]["current"] == STYLE.current  # the one chart definition


async def test_a_client_without_the_extension_lists_what_it_listed_before(
    make_server: ServerFactory, mode: str
) -> None:
    async with Client(await make_server(), mode=mode) as c:
        listed = [str(r.uri) for r in (await c.list_resources()).resources]
        assert listed == ["clypt://guide", "clypt://usage"]
        made = await c.call_tool("create_link", {"url": "https://e.com/x", "code": "app1"})
        assert not made.is_error
        result = await c.call_tool("get_analytics", {"link": "app1"})
        # the same structured result and text summary as ever, no extra blocks
        assert not result.is_error and result.structured_content is not None
        assert [b.type for b in result.content] == ["text", "text"]
        assert result.content[0].text.startswith("0 clicks")  # type: ignore[union-attr]


async def test_without_analytics_scope_there_is_no_view(
    make_server: ServerFactory, mode: str
) -> None:
    scopes = frozenset(ALL_SCOPES - {Scope.ANALYTICS_READ})
    async with Client(await make_server(scopes), mode=mode, extensions=[AppsHost()]) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert "get_analytics" not in tools
        assert not (tools["get_link"].meta or {}).get("ui")
        assert URI not in [str(r.uri) for r in (await c.list_resources()).resources]
