"""The tools through the SDK's client, in process, on a real SQLite file."""

from __future__ import annotations

import pytest
from mcp import Client

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import Principal
from clypt_mcp.tools.server import build_server
from tests.conftest import text

pytestmark = pytest.mark.anyio


async def test_lists_all_eleven_tools_with_schemas_and_annotations(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {
        "create_link",
        "list_links",
        "get_link",
        "update_link",
        "delete_link",
        "bulk_create_links",
        "bulk_update_links",
        "bulk_delete_links",
        "get_analytics",
        "list_clicks",
        "export_links",
        "export_clicks",
        "import_links",
        "list_jobs",
        "get_job",
        "cancel_job",
        "manage_tags",
        "manage_folders",
        "manage_domains",
        "get_qr_code",
        "manage_webhooks",
    }
    assert tools["create_link"].input_schema["required"] == ["url"]
    assert tools["create_link"].output_schema is not None
    assert tools["create_link"].output_schema["title"] == "Link"
    assert tools["list_links"].annotations is not None
    assert tools["list_links"].annotations.read_only_hint is True
    assert tools["delete_link"].annotations is not None
    assert tools["delete_link"].annotations.destructive_hint is True
    assert "answer" not in tools["delete_link"].input_schema["properties"]


async def test_create_then_get_by_code_id_and_short_url(client: Client) -> None:
    r = await client.call_tool(
        "create_link", {"url": "https://example.com/spring", "tags": ["spring-sale"]}
    )
    assert not r.is_error, text(r)
    link = r.structured_content
    assert link is not None
    assert len(link["code"]) == 7
    assert link["short_url"] == f"https://clypt.test/{link['code']}"
    assert link["tags"] == ["spring-sale"]
    assert text(r).startswith(f"Created https://clypt.test/{link['code']}")
    for ref in (link["code"], link["id"], link["short_url"]):
        got = await client.call_tool("get_link", {"link": ref})
        assert not got.is_error, text(got)
        assert got.structured_content is not None
        assert got.structured_content["id"] == link["id"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_lazy_server_registers_everything_on_first_use(
    service: ClyptService, mode: str
) -> None:
    backend = LocalBackend(service, Principal(workspace_id="default"))
    server = build_server(lambda: backend, lazy=True)
    assert not server._tool_manager.list_tools()  # nothing built before a request needs it
    async with Client(server, mode=mode) as c:
        made = await c.call_tool("create_link", {"url": "https://example.com/lazy"})
        assert not made.is_error, text(made)
        eager = build_server(lambda: backend, lazy=False)
        everything = {t.name for t in eager._tool_manager.list_tools()}
        assert {t.name for t in (await c.list_tools()).tools} == everything
        assert {"manage_webhooks", "manage_domains", "create_link"} <= everything
        assert (await c.list_prompts()).prompts


async def test_hints_name_the_tools_on_local_and_remote_backends(client: Client) -> None:
    # the REST API words these hints as endpoints; the remote backend turns them back
    for tool, args, hint in (
        ("get_link", {"link": "nope123"}, "find it with list_links"),
        ("list_links", {"cursor": "garbage"}, "pass next_cursor unchanged"),
    ):
        r = await client.call_tool(tool, args)
        assert r.is_error
        assert hint in text(r) and "/api/v1" not in text(r)
