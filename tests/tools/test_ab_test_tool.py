"""#15 item 4 through MCP: create_link and update_link take ab_test; bad ones are isError results
naming the field; get_link shows the test (locally and in remote mode)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from tests.conftest import text

pytestmark = pytest.mark.anyio
VARIANTS = [
    {"url": "https://a.shop.example/", "label": "A"},
    {"url": "https://b.shop.example/", "label": "B"},
]


async def made(client: Client, **fields: Any) -> dict[str, Any]:
    r = await client.call_tool(
        "create_link",
        {"url": "https://shop.example/", "variants": VARIANTS, "track_conversions": True, **fields},
    )
    assert not r.is_error, text(r)
    link: dict[str, Any] | None = r.structured_content
    assert link is not None
    return link


async def test_create_get_and_end_a_test_by_hand(client: Client) -> None:
    link = await made(client, ab_test={"goal": "signup", "min_visitors_per_variant": 50})
    test = link["ab_test"]
    assert test["status"] == "running" and test["goal"] == "signup"
    assert test["min_visitors_per_variant"] == 50 and test["max_visitors_per_variant"] == 500
    assert test["confidence"] == 0.95
    got = await client.call_tool("get_link", {"link": link["id"]})
    shown = got.structured_content
    assert shown is not None
    figures = {v["label"]: v["visitors"] for v in shown["ab_test"]["variants"]}
    assert figures == {"A": 0, "B": 0}
    ended = await client.call_tool("update_link", {"link": link["id"], "ab_test": {"winner": "B"}})
    assert not ended.is_error, text(ended)
    assert ended.structured_content is not None
    assert ended.structured_content["ab_test"]["winner"] == "B"
    assert ended.structured_content["ab_test"]["decided_by"] == "hand"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"ab_test": {"goal": "signup"}}, "min_visitors_per_variant"),
        (
            {"ab_test": {"goal": "signup", "min_visitors_per_variant": 3}},
            "min_visitors_per_variant",
        ),
        ({"ab_test": {"goal": "signup", "min_visitors_per_variant": 50, "winner": "A"}}, "winner"),
        (
            {"ab_test": {"goal": "signup", "min_visitors_per_variant": 50}, "variants": None},
            "ab_test",
        ),
        (
            {
                "ab_test": {"goal": "signup", "min_visitors_per_variant": 50},
                "track_conversions": False,
            },
            "track_conversions",
        ),
    ],
)
async def test_a_bad_ab_test_is_an_error_naming_its_field(
    client: Client, fields: dict[str, Any], named: str
) -> None:
    args = {"url": "https://shop.example/", "variants": VARIANTS, "track_conversions": True}
    args |= fields
    r = await client.call_tool("create_link", {k: v for k, v in args.items() if v is not None})
    assert r.is_error
    assert named in text(r), text(r)
    listed = await client.call_tool("list_links", {})
    assert listed.structured_content is not None and listed.structured_content["total"] == 0
