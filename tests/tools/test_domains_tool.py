"""manage_domains and the `domain` arguments of the link tools, through both backends (the
embedded service, and the REST API in remote mode), on both stores; verification asks a TXT
server this test runs on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import Scope
from tests.conftest import ServerFactory, text
from tests.dns_server import TxtServer, txt_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def dns(service: ClyptService) -> Iterator[TxtServer]:
    with txt_server() as server:
        service.dns_resolver = server.address
        yield server


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    r = await client.call_tool(tool, args)
    assert not r.is_error, text(r)
    assert r.structured_content is not None
    return dict(r.structured_content)


async def test_add_verify_default_and_links_on_the_domain(
    make_server: ServerFactory, service: ClyptService, dns: TxtServer
) -> None:
    async with Client(await make_server()) as c:
        added = (await call(c, "manage_domains", action="add", domain="Go.Example.ORG"))["domain"]
        assert added["domain"] == "go.example.org" and added["verified"] is False
        assert added["txt_name"] == "_clypt-challenge.go.example.org"
        # not verified yet: the link tools refuse it, naming the record
        r = await c.call_tool("create_link", {"url": "https://e.com/a", "domain": "go.example.org"})
        assert r.is_error and added["txt_value"] in text(r)
        r = await c.call_tool("manage_domains", {"action": "verify", "domain": "go.example.org"})
        assert r.is_error
        assert added["txt_name"] in text(r) and added["txt_value"] in text(r)
        dns.records[added["txt_name"]] = [added["txt_value"]]
        done = await call(c, "manage_domains", action="verify", domain="go.example.org")
        assert done["domain"]["verified"] is True

        made = await call(c, "create_link", url="https://e.com/a", code="camp",
                          domain="go.example.org")  # fmt: skip
        assert made["short_url"] == "https://go.example.org/camp"
        also = await call(c, "create_link", url="https://e.com/b", code="camp")
        assert also["short_url"] == "https://clypt.test/camp"  # same code, other domain
        bulk = await call(c, "bulk_create_links", links=[{"url": "https://e.com/1"},
                          {"url": "https://e.com/2", "domain": "clypt.test"}],
                          domain="go.example.org")  # fmt: skip
        assert [x["domain"] for x in bulk["created"]] == ["go.example.org", "clypt.test"]
        page = await call(c, "list_links", domain="go.example.org")
        assert page["total"] == 2 and {x["domain"] for x in page["links"]} == {"go.example.org"}
        got = await call(c, "get_link", link="https://go.example.org/camp")
        assert got["id"] == made["id"]

        listing = await call(c, "manage_domains", action="set_default", domain="go.example.org")
        assert listing["default_domain"] == "go.example.org"
        fresh = await call(c, "create_link", url="https://e.com/c")
        assert fresh["domain"] == "go.example.org"
        back = await call(c, "manage_domains", action="set_default", domain="clypt.test")
        assert back["default_domain"] == "clypt.test"

        # remove: refused while links use it, then done once they moved
        r = await c.call_tool("manage_domains", {"action": "remove", "domain": "go.example.org"})
        assert r.is_error and "update_link" in text(r)
        for link in (await call(c, "list_links", domain="go.example.org"))["links"]:
            code = "camp2" if link["code"] == "camp" else None
            args = {"link": link["id"], "domain": "clypt.test"} | ({"code": code} if code else {})
            await call(c, "update_link", **args)
        removed = await call(c, "manage_domains", action="remove", domain="go.example.org")
        assert removed["domain"]["domain"] == "go.example.org"
        assert (await call(c, "manage_domains", action="list"))["domains"] == []


async def test_moving_onto_a_taken_code_is_a_clear_conflict(
    make_server: ServerFactory, service: ClyptService
) -> None:
    await service.operator_add_domain("default", "go.example.org", verified=True)
    async with Client(await make_server()) as c:
        await call(c, "create_link", url="https://e.com/a", code="taken", domain="go.example.org")
        mine = await call(c, "create_link", url="https://e.com/b", code="taken")
        r = await c.call_tool("update_link", {"link": mine["id"], "domain": "go.example.org"})
        assert r.is_error and "taken" in text(r) and "go.example.org" in text(r)
        still = await call(c, "get_link", link=mine["id"])
        assert still["domain"] == "clypt.test"
        # a bare code on two domains names neither: the error gives both short URLs
        r = await c.call_tool("get_link", {"link": "taken"})
        assert r.is_error
        assert "https://clypt.test/taken" in text(r) and "https://go.example.org/taken" in text(r)
        got = await call(c, "get_link", link="https://go.example.org/taken")
        assert got["domain"] == "go.example.org"


async def test_another_workspaces_domain_is_neither_seen_nor_used(
    make_server: ServerFactory, service: ClyptService
) -> None:
    await service.operator_add_domain("other", "theirs.example.org", verified=True)
    async with Client(await make_server()) as c:
        assert (await call(c, "manage_domains", action="list"))["domains"] == []
        r = await c.call_tool(
            "create_link", {"url": "https://e.com", "domain": "theirs.example.org"}
        )
        assert r.is_error and "not a domain of this workspace" in text(r)
        r = await c.call_tool("manage_domains", {"action": "add", "domain": "theirs.example.org"})
        assert r.is_error and "another workspace" in text(r)


async def test_without_domain_scopes_the_tool_is_absent_or_read_only(
    make_server: ServerFactory,
) -> None:
    links_only = frozenset({Scope.LINKS_READ, Scope.LINKS_WRITE})
    async with Client(await make_server(links_only)) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert "manage_domains" not in names
    async with Client(await make_server(frozenset({Scope.DOMAINS_READ}))) as c:
        tool = next(t for t in (await c.list_tools()).tools if t.name == "manage_domains")
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        r = await c.call_tool("manage_domains", {"action": "add", "domain": "x.example.org"})
        assert r.is_error and "domains:write" in text(r)
