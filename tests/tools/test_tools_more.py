"""Updates, deletes with confirmation, bulk progress, QR images, resources, prompts, completion."""

from __future__ import annotations

import base64
import struct
from datetime import timedelta
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import (
    ElicitRequestParams,
    ElicitResult,
    ImageContent,
    PromptReference,
    ResourceTemplateReference,
)

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.models import ClickEvent, LinkCreate
from clypt_mcp.store.sqlite import SqliteStore
from tests.conftest import ServerFactory, text

pytestmark = pytest.mark.anyio


def data(result: Any) -> dict[str, Any]:
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return dict(result.structured_content)


async def test_update_leaves_absent_fields_and_clears_nulls(client: Client) -> None:
    data(await client.call_tool(
        "create_link",
        {"url": "https://a.com", "code": "upd", "title": "T", "notes": "N", "tags": ["x"],
         "utm_source": "news", "password": "secret-pw"},
    ))  # fmt: skip
    link = data(await client.call_tool("update_link", {"link": "upd", "notes": None}))
    assert link["title"] == "T" and "notes" not in link
    assert link["tags"] == ["x"] and link["utm_source"] == "news" and link["has_password"]
    assert "password" not in link and "password_hash" not in link
    link = data(await client.call_tool("update_link", {"link": "upd", "password": None}))
    assert link["has_password"] is False
    link = data(
        await client.call_tool("update_link", {"link": "upd", "url": "https://b.com", "tags": []})
    )
    assert link["url"] == "https://b.com" and "tags" not in link
    link = data(await client.call_tool("update_link", {"link": "upd", "disabled": True}))
    assert link["status"] == "disabled"
    link = data(await client.call_tool("update_link", {"link": "upd", "code": "upd2"}))
    assert link["code"] == "upd2" and link["short_url"].endswith("/upd2")


async def test_soft_delete_then_restore(client: Client) -> None:
    data(await client.call_tool("create_link", {"url": "https://a.com", "code": "soft"}))
    assert data(await client.call_tool("delete_link", {"link": "soft"})) == {
        "deleted": True,
        "permanent": False,
    }
    assert data(await client.call_tool("get_link", {"link": "soft"}))["status"] == "deleted"
    restored = data(await client.call_tool("update_link", {"link": "soft", "deleted": False}))
    assert restored["status"] == "active" and "deleted_at" not in restored


async def _link_with_clicks(backend: LocalBackend, store: SqliteStore, code: str) -> None:
    made = await backend.create_link(LinkCreate(url="https://a.com", code=code))
    now = backend.service.clock()
    await store.record_clicks(
        [ClickEvent(link_id=made.id, workspace_id="default", at=now - timedelta(minutes=1))]
    )


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize(("action", "deleted"), [("accept", True), ("decline", False)])
async def test_permanent_delete_of_clicked_link_asks_the_user(
    make_server: ServerFactory,
    backend: LocalBackend,
    store: SqliteStore,
    mode: str,
    action: str,
    deleted: bool,
) -> None:
    await _link_with_clicks(backend, store, "asked")
    questions: list[str] = []

    async def on_elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        questions.append(params.message)
        content = {"confirm": True} if action == "accept" else None
        return ElicitResult(action=action, content=content)

    async with Client(await make_server(), mode=mode, elicitation_callback=on_elicit) as c:
        r = await c.call_tool("delete_link", {"link": "asked", "permanent": True})
        assert r.is_error is not deleted, text(r)
        assert len(questions) == 1 and "1 recorded clicks" in questions[0]
        still = await c.call_tool("get_link", {"link": "asked"})
        assert still.is_error is deleted


async def test_permanent_delete_without_elicitation_needs_confirm(
    client: Client, backend: LocalBackend, store: SqliteStore
) -> None:
    await _link_with_clicks(backend, store, "keep")
    r = await client.call_tool("delete_link", {"link": "keep", "permanent": True})
    assert r.is_error and "confirm=true" in text(r)
    assert not (await client.call_tool("get_link", {"link": "keep"})).is_error
    done = await client.call_tool(
        "delete_link", {"link": "keep", "permanent": True, "confirm": True}
    )
    assert data(done) == {"deleted": True, "permanent": True}
    assert (await client.call_tool("get_link", {"link": "keep"})).is_error


async def test_permanent_delete_of_unclicked_link_needs_no_confirmation(client: Client) -> None:
    data(await client.call_tool("create_link", {"url": "https://a.com", "code": "fresh"}))
    done = await client.call_tool("delete_link", {"link": "fresh", "permanent": True})
    assert data(done)["permanent"] is True


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_bulk_create_reports_progress_and_per_item_errors(
    make_server: ServerFactory, mode: str
) -> None:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    items: list[dict[str, Any]] = [{"url": f"https://e.com/{i}"} for i in range(5)]
    items[2] = {"url": "mailto:x@y.z"}
    items[3] = {"url": "https://e.com/3", "colour": "red"}
    async with Client(await make_server(), mode=mode) as c:
        r = await c.call_tool("bulk_create_links", {"links": items}, progress_callback=on_progress)
    out = data(r)
    assert len(out["created"]) == 3
    assert [e["index"] for e in out["errors"]] == [2, 3]
    assert "url:" in out["errors"][0]["error"]
    assert "colour: is not a known field" in out["errors"][1]["error"]
    assert [(float(d), float(t or 0)) for d, t in seen] == [(i, 5.0) for i in range(1, 6)]


async def test_idempotency_key_returns_the_first_result(client: Client) -> None:
    args = {"url": "https://e.com/once", "idempotency_key": "k-1"}
    first = data(await client.call_tool("create_link", args))
    again = data(await client.call_tool("create_link", args))
    assert again["id"] == first["id"]
    assert data(await client.call_tool("list_links", {}))["total"] == 1
    other = await client.call_tool(
        "create_link", {"url": "https://e.com/else", "idempotency_key": "k-1"}
    )
    assert other.is_error and "different request" in text(other)
    bulk = {"links": [{"url": "https://e.com/b1"}, {"url": "https://e.com/b2"}],
            "idempotency_key": "k-2"}  # fmt: skip
    b1 = data(await client.call_tool("bulk_create_links", bulk))
    b2 = data(await client.call_tool("bulk_create_links", bulk))
    assert [x["id"] for x in b1["created"]] == [x["id"] for x in b2["created"]]
    assert data(await client.call_tool("list_links", {}))["total"] == 3


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


async def test_qr_code_png_of_requested_size_and_svg(client: Client) -> None:
    data(await client.call_tool("create_link", {"url": "https://a.com", "code": "qr1"}))
    r = await client.call_tool("get_qr_code", {"link": "qr1", "size": 256})
    assert not r.is_error
    image = r.content[0]
    assert image.type == "image" and image.mime_type == "image/png"
    assert _png_size(base64.b64decode(image.data)) == (256, 256)
    svg = await client.call_tool("get_qr_code", {"link": "qr1", "format": "svg", "size": 128})
    block = svg.content[0]
    assert isinstance(block, ImageContent) and block.mime_type == "image/svg+xml"
    assert b'width="128"' in base64.b64decode(block.data)


async def test_qr_code_encodes_the_short_url(client: Client) -> None:
    data(await client.call_tool("create_link", {"url": "https://a.com", "code": "qr2"}))
    a = (await client.call_tool("get_qr_code", {"link": "qr2", "size": 300})).content[0]
    data(await client.call_tool("create_link", {"url": "https://a.com", "code": "qr3"}))
    b = (await client.call_tool("get_qr_code", {"link": "qr3", "size": 300})).content[0]
    assert isinstance(a, ImageContent) and isinstance(b, ImageContent)
    assert a.data != b.data


async def test_resources_guide_and_link(client: Client) -> None:
    data(await client.call_tool("create_link", {"url": "https://a.com", "code": "res"}))
    listed = await client.list_resources()
    assert [str(r.uri) for r in listed.resources] == ["clypt://guide", "clypt://usage"]
    templates = await client.list_resource_templates()
    assert sorted(t.uri_template for t in templates.resource_templates) == [
        "clypt://exports/{export_id}",
        "clypt://links/{code}",
    ]
    guide = await client.read_resource("clypt://guide")
    assert guide.contents[0].text.startswith("# Clypt")  # type: ignore[union-attr]
    link = await client.read_resource("clypt://links/res")
    assert '"code":"res"' in link.contents[0].text  # type: ignore[union-attr]
    assert link.contents[0].mime_type == "application/json"
    with pytest.raises(MCPError) as err:
        await client.read_resource("clypt://links/missing")
    # the spec's resource-not-found code: -32002 up to 2025-11-25, -32602 from 2026-07-28
    legacy = client.protocol_version <= "2025-11-25"
    assert err.value.error.code == (-32002 if legacy else -32602)
    assert err.value.error.data == {"uri": "clypt://links/missing"}
    with pytest.raises(MCPError) as err:
        await client.read_resource("clypt://exports/job_missing")
    assert err.value.error.code == (-32002 if legacy else -32602)


async def test_prompts(client: Client) -> None:
    names = {p.name for p in (await client.list_prompts()).prompts}
    assert names == {"campaign_setup", "performance_report"}
    p = await client.get_prompt(
        "campaign_setup", {"urls": "https://a.com, https://b.com", "campaign": "spring"}
    )
    body = p.messages[0].content.text  # type: ignore[union-attr]
    assert "- https://a.com\n- https://b.com" in body and "tags=['spring']" in body
    r = await client.get_prompt("performance_report", {"period": "30d"})
    assert "period='30d'" in r.messages[0].content.text  # type: ignore[union-attr]


async def test_completion_of_codes_tags_folders_and_periods(
    client: Client, backend: LocalBackend
) -> None:
    for code in ("spring-a", "spring-b", "summer"):
        await backend.create_link(LinkCreate(url="https://a.com", code=code, tags=["promo"]))
    await backend.create_link(LinkCreate(url="https://a.com", folder="Marketing/2026"))
    template = ResourceTemplateReference(type="ref/resource", uri="clypt://links/{code}")
    got = await client.complete(template, {"name": "code", "value": "spr"})
    assert sorted(got.completion.values) == ["spring-a", "spring-b"]
    prompt = PromptReference(type="ref/prompt", name="performance_report")
    got = await client.complete(prompt, {"name": "tag", "value": "pr"})
    assert got.completion.values == ["promo"]
    got = await client.complete(prompt, {"name": "folder", "value": "Marketing/"})
    assert got.completion.values == ["Marketing/2026"]
    got = await client.complete(prompt, {"name": "period", "value": "3"})
    assert got.completion.values == ["30d"]


async def test_tag_names_match_like_the_database_ascii_case_only(client: Client) -> None:
    # both stores compare names with ASCII-only case folding; tools must find the same tag
    for name in ("Été", "été", "Sale"):
        made = await client.call_tool("manage_tags", {"action": "create", "name": name})
        assert not made.is_error, text(made)
    taken = await client.call_tool("manage_tags", {"action": "create", "name": "SALE"})
    assert taken.is_error and "already exists" in text(taken)
    gone = await client.call_tool("manage_tags", {"action": "delete", "name": "été"})
    assert not gone.is_error, text(gone)
    left = await client.call_tool("manage_tags", {"action": "list"})
    assert left.structured_content is not None
    assert sorted(t["name"] for t in left.structured_content["tags"]) == ["Sale", "Été"]
    link = await client.call_tool(
        "create_link", {"url": "https://e.com/", "tags": ["Été", "été", "sale", "SALE"]}
    )
    assert link.structured_content is not None
    assert sorted(link.structured_content["tags"]) == ["Sale", "Été", "été"]
