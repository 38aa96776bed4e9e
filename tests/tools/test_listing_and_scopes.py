"""Paging with cursors, sorting, filters, and what CLYPT_SCOPES lets an assistant see."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
from mcp import Client

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.models import LinkCreate, LinkQuery, Scope, parse_scopes
from tests.conftest import ServerFactory, text

pytestmark = pytest.mark.anyio


async def _page_through(client: Client, **args: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        r = await client.call_tool("list_links", {**args, "cursor": cursor})
        assert not r.is_error, text(r)
        page = r.structured_content
        assert page is not None
        seen.extend(page["links"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


@pytest.mark.parametrize(
    "sort", ["-created_at", "created_at", "code", "-code", "-clicks", "clicks"]
)
async def test_cursor_paging_returns_every_link_once_in_sort_order(
    client: Client, backend: LocalBackend, sort: str
) -> None:
    for i in range(47):
        await backend.create_link(LinkCreate(url=f"https://example.com/{i}", code=f"c{i:03d}"))
    links = await _page_through(client, sort=sort, limit=10)
    codes = [link["code"] for link in links]
    assert len(codes) == 47 and len(set(codes)) == 47
    key = {
        "-created_at": lambda x: x["created_at"],
        "created_at": lambda x: x["created_at"],
        "code": lambda x: x["code"],
        "-code": lambda x: x["code"],
        "-clicks": lambda x: (x["clicks"], x["id"]),
        "clicks": lambda x: (x["clicks"], x["id"]),
    }[sort]
    assert links == sorted(links, key=key, reverse=sort.startswith("-"))


async def test_paging_while_links_are_added_returns_each_original_link_once(
    client: Client, backend: LocalBackend
) -> None:
    originals = set()
    for i in range(60):
        made = await backend.create_link(LinkCreate(url=f"https://example.com/{i}"))
        originals.add(made.code)
    seen: list[str] = []
    cursor = None
    added = 0
    while True:
        r = await client.call_tool("list_links", {"limit": 7, "cursor": cursor})
        page = r.structured_content
        assert page is not None
        seen.extend(link["code"] for link in page["links"])
        # writers keep adding links between pages
        for _ in range(3):
            await backend.create_link(LinkCreate(url=f"https://example.com/new/{added}"))
            added += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a link was returned twice"
    assert originals <= set(seen), "a link was skipped"


async def test_concurrent_writer_during_paging_in_created_order(
    client: Client, backend: LocalBackend
) -> None:
    for i in range(30):
        await backend.create_link(LinkCreate(url=f"https://example.com/{i}"))
    before = {link.code for link in (await backend.list_links(LinkQuery(limit=100))).links}

    async def writer() -> None:
        for i in range(30):
            await backend.create_link(LinkCreate(url=f"https://example.com/w{i}"))
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        seen = await _page_through(client, sort="created_at", limit=5)
    codes = [link["code"] for link in seen]
    assert len(codes) == len(set(codes))
    assert before <= set(codes)


async def test_filters_by_tag_folder_query_and_status(
    client: Client, backend: LocalBackend
) -> None:
    await backend.create_link(LinkCreate(url="https://a.com", tags=["spring-sale"], code="aaa"))
    await backend.create_link(LinkCreate(url="https://b.com", folder="Marketing/2026", code="bbb"))
    await backend.create_link(LinkCreate(url="https://c.com", title="Newsletter", code="ccc"))
    await backend.delete_link("ccc")

    async def codes(**args: Any) -> list[str]:
        r = await client.call_tool("list_links", args)
        assert r.structured_content is not None, text(r)
        return sorted(link["code"] for link in r.structured_content["links"])

    assert await codes(tag="Spring-Sale") == ["aaa"]
    assert await codes(folder="Marketing") == ["bbb"]  # subfolders included
    assert await codes(folder="Marketing/2026") == ["bbb"]
    assert await codes(query="newsletter", status="all") == ["ccc"]
    assert await codes() == ["aaa", "bbb"]
    assert await codes(status="deleted") == ["ccc"]


READ_TOOLS = {"list_links", "get_link", "get_qr_code", "get_analytics", "list_clicks",
              "export_links", "export_clicks", "list_jobs", "get_job", "cancel_job"}  # fmt: skip


async def test_read_only_scopes_list_only_the_read_tools(make_server: ServerFactory) -> None:
    scopes = parse_scopes("links:read,analytics:read")
    async with Client(await make_server(scopes)) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert names == READ_TOOLS
        r = await c.call_tool("create_link", {"url": "https://e.com"})
        assert r.is_error


async def test_tags_read_scope_lists_manage_tags_but_refuses_writes(
    make_server: ServerFactory,
) -> None:
    async with Client(await make_server(frozenset({Scope.TAGS_READ}))) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert names == {"manage_tags"}
        ok = await c.call_tool("manage_tags", {"action": "list"})
        assert not ok.is_error
        r = await c.call_tool("manage_tags", {"action": "create", "name": "x"})
        assert r.is_error and "'tags:write' scope" in text(r)


async def test_write_scope_implies_read(make_server: ServerFactory) -> None:
    async with Client(await make_server(frozenset({Scope.LINKS_WRITE}))) as c:
        names = {t.name for t in (await c.list_tools()).tools}
    assert {"create_link", "list_links", "get_link", "update_link"} <= names
    assert "get_analytics" not in names
    assert "manage_folders" not in names
