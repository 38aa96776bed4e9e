"""Every bad input of product.md: an isError result naming the field and the rule; no write."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from clypt_mcp.store.base import Store
from tests.conftest import text

pytestmark = pytest.mark.anyio

# Not `idempotency`: over the REST API (the remote backend) every POST carries an
# Idempotency-Key, and a rejected one leaves its claim marked failed (forgotten: a retry runs
# again): bookkeeping of core.idempotency, not user data.
TABLES = ("links", "tags", "link_tags", "folders", "clicks", "rollups", "api_keys")


async def row_counts(store: Store) -> dict[str, int]:
    return {t: await store.count_rows(t) for t in TABLES}


LONG = "x" * 201

# (tool, arguments, substrings the error text must hold: the field, then the rule)
CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("create_link", {"url": "ftp://example.com/file"}, ("url:", "http:// or https://", "'ftp:'")),
    ("create_link", {"url": "javascript:alert(1)"}, ("url:", "'javascript:'")),
    ("create_link", {"url": "data:text/html,hi"}, ("url:", "'data:'")),
    ("create_link", {"url": "example.com/no-scheme"}, ("url:", "http:// or https://")),
    ("create_link", {"url": "https://good.com@evil.com/"}, ("url:", "user name or password")),
    ("create_link", {"url": "https://ex.com/a\r\nSet-Cookie: x"}, ("url:", "line breaks")),
    ("create_link", {"url": "https://e.com/" + "a" * 2040}, ("url", "2048")),
    ("create_link", {"url": "https://e.com", "title": LONG}, ("title:", "200")),
    ("create_link", {"url": "https://e.com", "notes": "n" * 501}, ("notes:", "500")),
    ("create_link", {"url": "https://e.com", "code": "a" * 65}, ("code:", "64")),
    ("create_link", {"url": "https://e.com", "code": "ab"}, ("code:", "3-64")),
    ("create_link", {"url": "https://e.com", "code": "sp ace"}, ("code:", "' ' is not allowed")),
    ("create_link", {"url": "https://e.com", "code": "api"}, ("code:", "reserved")),
    ("create_link", {"url": "https://e.com", "code": "LLMS.txt"}, ("code:",)),
    ("create_link", {"url": "https://e.com", "utm_source": "a b"}, ("utm_source:", "pattern")),
    ("create_link", {"url": "https://e.com", "password": "abc"}, ("password:", "at least 4")),
    ("create_link", {"url": "https://e.com", "max_clicks": 0}, ("max_clicks:", "greater than")),
    ("create_link", {"url": "https://e.com", "max_clicks": "many"}, ("max_clicks:", "integer")),
    ("create_link", {"url": 42}, ("url:", "string")),
    ("create_link", {"url": "https://e.com", "tags": "spring"}, ("tags:", "list")),
    ("create_link", {"url": "https://e.com", "surprise": 1}, ("surprise:", "not a known field")),
    ("create_link", {}, ("url:", "required")),
    (
        "create_link",
        {
            "url": "https://e.com",
            "starts_at": "2026-05-02T00:00:00Z",
            "expires_at": "2026-05-01T00:00:00Z",
        },
        ("expires_at must be after starts_at",),
    ),
    (
        "create_link",
        {"url": "https://e.com", "tags": [f"t{i}" for i in range(11)]},
        ("tags:", "at most 10"),
    ),
    (
        "create_link",
        {"url": "https://e.com", "geo": {"USA": "https://e.com/us"}},
        ("geo:", "two-letter"),
    ),
    (
        "create_link",
        {"url": "https://e.com", "devices": {"fridge": "https://e.com/f"}},
        ("devices.fridge", "ios"),
    ),
    (
        "create_link",
        {"url": "https://e.com", "variants": [{"url": "https://a.com", "weight": 0}]},
        ("variants.0.weight", "greater than"),
    ),
    ("create_link", {"url": "https://clypt.test/abc"}, ("url:", "loop")),
    (
        "bulk_create_links",
        {"links": [{"url": f"https://e.com/{i}"} for i in range(101)]},
        ("links:", "at most 100"),
    ),
    ("bulk_create_links", {"links": []}, ("links:", "at least 1")),
    ("list_links", {"limit": 0}, ("limit:", "greater than or equal to 1")),
    ("list_links", {"limit": 101}, ("limit:", "less than or equal to 100")),
    ("list_links", {"sort": "popularity"}, ("sort:", "-clicks")),
    ("list_links", {"cursor": "not-a-cursor"}, ("cursor:", "next_cursor")),
    ("list_links", {"status": "gone"}, ("status:",)),
    ("get_link", {"link": "nope-nope"}, ("no link 'nope-nope'", "list_links")),
    ("update_link", {"link": "nope-nope", "title": "x"}, ("no link 'nope-nope'",)),
    ("delete_link", {"link": "nope-nope"}, ("no link 'nope-nope'",)),
    ("get_analytics", {"period": "1y"}, ("period:",)),
    ("get_analytics", {"timezone": "Mars/Olympus"}, ("timezone:", "IANA")),
    ("get_analytics", {"top": 51}, ("top:", "less than or equal to 50")),
    ("get_analytics", {"period": "12mo", "interval": "hour"}, ("interval:", "larger interval")),
    ("manage_tags", {"action": "explode"}, ("action:",)),
    ("manage_tags", {"action": "create"}, ("name: required",)),
    ("manage_tags", {"action": "create", "name": "t" * 51}, ("name:",)),
    (
        "manage_folders",
        {"action": "rename", "path": "Nope", "new_name": "X"},
        ("no folder 'Nope'",),
    ),
    ("manage_folders", {"action": "create", "path": "a/" + "b" * 65}, ("path:", "1-64")),
    ("get_qr_code", {"link": "nope-nope"}, ("no link 'nope-nope'",)),
    ("get_qr_code", {"link": "x", "size": 10}, ("size:", "greater than or equal to 64")),
]


@pytest.mark.parametrize(("tool", "arguments", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_is_an_error_result_that_names_field_and_rule_and_writes_nothing(
    client: Client, store: Store, tool: str, arguments: dict[str, Any], expected: tuple[str, ...]
) -> None:
    before = await row_counts(store)
    r = await client.call_tool(tool, arguments)
    assert r.is_error, f"{tool} accepted {arguments}"
    message = text(r)
    assert not message.startswith("Error executing tool"), message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert "errors.pydantic.dev" not in message
    assert await row_counts(store) == before
    # the server keeps answering
    ok = await client.call_tool("list_links", {})
    assert not ok.is_error


async def test_taken_code_is_a_conflict_and_the_first_link_is_untouched(
    client: Client, store: Store
) -> None:
    first = await client.call_tool("create_link", {"url": "https://a.com", "code": "launch"})
    assert not first.is_error
    before = await row_counts(store)
    r = await client.call_tool(
        "create_link",
        {"url": "https://b.com", "code": "launch", "tags": ["new-tag"], "folder": "New/Folder"},
    )
    assert r.is_error
    assert text(r) == "code 'launch' is taken — pick another or omit code"
    assert await row_counts(store) == before
    got = await client.call_tool("get_link", {"link": "launch"})
    assert got.structured_content is not None
    assert got.structured_content["url"] == "https://a.com"


async def test_password_is_never_echoed_in_an_error(client: Client) -> None:
    r = await client.call_tool("create_link", {"url": "https://e.com", "password": "s3c"})
    assert r.is_error
    assert "s3c" not in text(r)


async def test_update_that_breaks_a_rule_changes_nothing(client: Client, store: Store) -> None:
    made = await client.call_tool("create_link", {"url": "https://a.com", "code": "keepme"})
    assert not made.is_error
    await client.call_tool("create_link", {"url": "https://b.com", "code": "other"})
    before = await row_counts(store)
    r = await client.call_tool(
        "update_link",
        {"link": "keepme", "code": "other", "title": "changed", "tags": ["x"], "folder": "F/G"},
    )
    assert r.is_error and "code 'other' is taken" in text(r)
    assert await row_counts(store) == before
    got = await client.call_tool("get_link", {"link": "keepme"})
    assert got.structured_content is not None
    assert "title" not in got.structured_content  # empty fields are left out
    assert "tags" not in got.structured_content
