"""The MCP surface an assistant meets: named unknown and hidden tools and prompts, protocol
errors with the spec's codes, schemas that carry the limits, plain descriptions and errors."""

from __future__ import annotations

import csv
import io
import logging
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import TextContent

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import LinkCreate, Principal, parse_scopes
from clypt_mcp.tools.server import build_server
from tests.conftest import ServerFactory, text

pytestmark = pytest.mark.anyio


def _schema(prop: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an optional property's schema."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") != "null":
            return dict(branch)
    raise AssertionError(prop)


async def test_input_schemas_carry_the_models_limits(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    create = tools["create_link"].input_schema["properties"]
    assert _schema(create["url"])["maxLength"] == 2048
    assert _schema(create["code"])["maxLength"] == 64
    assert _schema(create["code"])["minLength"] == 3
    assert _schema(create["title"])["maxLength"] == 200
    assert _schema(create["notes"])["maxLength"] == 500
    assert _schema(create["password"])["minLength"] == 4
    assert _schema(create["max_clicks"])["minimum"] == 1
    assert _schema(create["tags"])["maxItems"] == 10
    assert "pattern" in _schema(create["utm_source"])
    assert _schema(create["geo"])["maxProperties"] == 50
    assert _schema(create["idempotency_key"])["maxLength"] == 200
    # every property keeps its description at the top, for assistants that read only that
    assert all(p.get("description") for p in create.values())
    listing = tools["list_links"].input_schema["properties"]
    assert listing["limit"]["maximum"] == 100 and listing["limit"]["minimum"] == 1
    assert _schema(listing["query"])["maxLength"] == 200
    assert _schema(listing["cursor"])["maxLength"] == 500
    assert tools["get_analytics"].input_schema["properties"]["top"]["maximum"] == 50


async def test_descriptions_have_no_source_indentation_and_update_is_destructive(
    client: Client,
) -> None:
    tools = (await client.list_tools()).tools
    for tool in tools:
        assert tool.description, tool.name
        assert "\n    " not in tool.description, tool.name
    update = next(t for t in tools if t.name == "update_link")
    assert update.annotations is not None and update.annotations.destructive_hint is True
    for prompt in (await client.list_prompts()).prompts:
        assert prompt.description and "\n    " not in prompt.description


async def test_errors_have_no_sdk_prefix(client: Client) -> None:
    for tool, args in (
        ("create_link", {"url": "ftp://x"}),  # the argument check
        ("get_link", {"link": "nope-nope"}),  # the service
        ("manage_tags", {"action": "create"}),  # the tool itself
        ("list_links", {"limit": "many"}),
    ):
        r = await client.call_tool(tool, args)
        assert r.is_error
        assert not text(r).startswith("Error executing tool"), text(r)


async def test_unknown_tool_is_named_with_the_tools_there_are(client: Client) -> None:
    r = await client.call_tool("shorten_url", {"url": "https://e.com"})
    assert r.is_error
    assert "unknown tool 'shorten_url'" in text(r) and "create_link" in text(r)


async def test_tool_hidden_by_scopes_names_the_scope_to_add(service: ClyptService) -> None:
    scopes = parse_scopes("links:read,analytics:read")
    backend = LocalBackend(service, Principal(workspace_id="default", scopes=scopes))
    async with Client(build_server(lambda: backend, scopes)) as c:
        r = await c.call_tool("create_link", {"url": "https://e.com"})
        assert r.is_error
        assert "'links:write'" in text(r) and "CLYPT_SCOPES" in text(r)
        assert "create_link" in text(r)
        # campaign_setup tells the assistant to create links: hidden with those tools
        prompts = {p.name for p in (await c.list_prompts()).prompts}
        assert prompts == {"performance_report"}
        with pytest.raises(MCPError) as err:
            await c.get_prompt("campaign_setup", {"urls": "https://a.com", "campaign": "x"})
        assert err.value.error.code == -32602
        assert "campaign_setup" in err.value.error.message


async def test_prompt_with_a_missing_argument_is_invalid_params_without_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(MCPError) as err:
        await client.get_prompt("campaign_setup", {"campaign": "spring"})
    assert err.value.error.code == -32602
    assert "urls" in err.value.error.message and "{" not in err.value.error.message
    assert not any(r.exc_info for r in caplog.records)
    assert "Traceback" not in caplog.text
    with pytest.raises(MCPError) as unknown:
        await client.get_prompt("no_such_prompt", {})
    assert unknown.value.error.code == -32602
    assert "campaign_setup" in unknown.value.error.message


async def test_prompt_arguments_are_described_and_urls_take_spaces(client: Client) -> None:
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    for prompt in prompts.values():
        for arg in prompt.arguments or []:
            assert arg.description, f"{prompt.name}.{arg.name}"
    got = await client.get_prompt(
        "campaign_setup",
        {"urls": "https://a.com/1 https://a.com/2,https://a.com/3\nhttps://a.com/4",
         "campaign": "spring"},
    )  # fmt: skip
    body = got.messages[0].content
    assert isinstance(body, TextContent)
    for n in range(1, 5):
        assert f"- https://a.com/{n}\n" in body.text + "\n"


@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_tags_and_folders_take_fields_and_format(
    client: Client, backend: LocalBackend, fmt: str
) -> None:
    await backend.create_link(LinkCreate(url="https://e.com", tags=["alpha", "beta"], folder="F/G"))
    tags = await client.call_tool("manage_tags", {"action": "list", "fields": ["name", "links"],
                                                  "format": fmt})  # fmt: skip
    assert not tags.is_error, text(tags)
    assert tags.structured_content is not None
    assert tags.structured_content["tags"] == [
        {"name": "alpha", "links": 1},
        {"name": "beta", "links": 1},
    ]
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text(tags))))
        assert rows == [["name", "links"], ["alpha", "1"], ["beta", "1"]]
    else:
        assert '"id"' not in text(tags) and '"created_at"' not in text(tags)
    folders = await client.call_tool(
        "manage_folders", {"action": "list", "fields": ["path"], "format": fmt}
    )
    assert folders.structured_content is not None
    assert folders.structured_content["folders"] == [{"path": "F"}, {"path": "F/G"}]


async def test_missing_link_resource_is_the_spec_not_found_error(
    make_server: ServerFactory,
) -> None:
    server = await make_server()
    for mode, code in (("legacy", -32002), ("auto", -32602)):
        async with Client(server, mode=mode) as c:
            with pytest.raises(MCPError) as err:
                await c.read_resource("clypt://links/absent")
            assert err.value.error.code == code, (mode, c.protocol_version)
            assert "absent" in err.value.error.message
            with pytest.raises(MCPError) as other:
                await c.read_resource("clypt://nothing/here")
            assert other.value.error.code == code


async def test_bulk_item_errors_read_the_same_embedded_and_remote(client: Client) -> None:
    r = await client.call_tool(
        "bulk_create_links",
        {"links": [{"url": "https://e.com/ok"}, {"url": "https://e.com", "max_clicks": 0},
                   {"url": "https://e.com", "starts_at": "2030-01-02",
                    "expires_at": "2030-01-01"}]},
    )  # fmt: skip
    assert not r.is_error, text(r)
    assert r.structured_content is not None
    errors = r.structured_content["errors"]
    assert [e["index"] for e in errors] == [1, 2]
    # over REST (remote mode) the API says maxClicks; the tools say what they take
    assert errors[0]["error"].startswith("max_clicks: ")
    assert errors[1]["error"] == "expires_at must be after starts_at"
