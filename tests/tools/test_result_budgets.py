"""What results cost an assistant: the documented character budgets of `content` blocks, empty
fields left out, `fields` and `format`, and the 100 KB ceiling on every result."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.models import AbTestSpec, ClickEvent, Link, LinkCreate, Preview, Variant
from clypt_mcp.store.base import Store
from clypt_mcp.tools.links import LINK_FIELDS, SUMMARY_FIELDS
from clypt_mcp.tools.shaping import CEILING, CUT_MARK
from tests.conftest import text

pytestmark = pytest.mark.anyio

# The budgets llms.txt and docs state, in characters of the content blocks (≈ 4 per token).
LIST_LINKS_BUDGET = 8_000
ANALYTICS_BUDGET = 6_000


def content_chars(result: CallToolResult) -> int:
    return sum(len(b.text) for b in result.content if isinstance(b, TextContent))


def texts(result: CallToolResult) -> list[str]:
    return [b.text for b in result.content if isinstance(b, TextContent)]


def full_link(i: int) -> LinkCreate:
    """A link with every field a user can set filled, with everyday values."""
    return LinkCreate(
        url=f"https://shop.example.com/collections/spring-2026/products/item-{i}?ref=news",
        code=f"spring-item-{i:02d}",
        title=f"Spring collection, item {i}: the linen shirt",
        notes="For the April newsletter; swap the image once the photo shoot is done.",
        tags=["spring", "newsletter", "apparel"],
        folder="Marketing/2026/Spring",
        utm_source="newsletter",
        utm_medium="email",
        utm_campaign="spring-2026",
        utm_term="linen",
        utm_content="hero-button",
        starts_at=datetime(2026, 3, 1, tzinfo=UTC),
        expires_at=datetime(2026, 9, 1, tzinfo=UTC),
        max_clicks=100_000,
        password="open-sesame",
        variants=[
            Variant(url=f"https://shop.example.com/a/{i}", weight=1, label="a"),
            Variant(url=f"https://shop.example.com/b/{i}", weight=1, label="b"),
        ],
        geo={"DE": f"https://shop.example.de/{i}", "FR": f"https://shop.example.fr/{i}"},
        devices={"ios": f"https://apps.example.com/ios/{i}"},
        preview=Preview(
            title=f"Linen shirt {i}",
            description="The spring collection's linen shirt, in five colours.",
            image=f"https://cdn.example.com/cards/spring-{i}.png",
        ),
        track_conversions=True,
        ab_test=AbTestSpec(goal="purchase", min_visitors_per_variant=100),
    )


async def test_list_links_of_twenty_full_links_stays_within_budget(
    client: Client, backend: LocalBackend, store: Store
) -> None:
    made = [await backend.create_link(full_link(i)) for i in range(20)]
    now = datetime.now(UTC)
    await store.record_clicks(
        [ClickEvent(link_id=link.id, workspace_id="default", at=now - timedelta(minutes=5))
         for link in made]
    )  # fmt: skip
    r = await client.call_tool("list_links", {"limit": 20})
    assert not r.is_error, text(r)
    assert content_chars(r) <= LIST_LINKS_BUDGET, content_chars(r)
    page = r.structured_content
    assert page is not None and len(page["links"]) == 20
    # the structured content is whole: every field of every link, none of them empty
    for link in page["links"]:
        assert set(link) == set(LINK_FIELDS) - {"deleted_at"}, set(LINK_FIELDS) - set(link)
    # the text names each link with its summary fields
    joined = "\n".join(texts(r))
    for link in made:
        assert link.short_url in joined and link.url in joined


async def test_link_objects_leave_out_empty_fields_but_keep_zero_and_false(
    client: Client,
) -> None:
    r = await client.call_tool("create_link", {"url": "https://example.com/bare"})
    assert not r.is_error, text(r)
    link = r.structured_content
    assert link is not None
    for name in ("title", "notes", "folder", "utm_source", "max_clicks", "variants", "geo"):
        assert name not in link, name
    assert "tags" not in link  # []
    assert link["clicks"] == 0 and link["disabled"] is False and link["has_password"] is False
    for tool, args in (("get_link", {"link": link["code"]}), ("list_links", {})):
        got = await client.call_tool(tool, args)
        shown = got.structured_content
        assert shown is not None
        item = shown["links"][0] if tool == "list_links" else shown
        assert all(v not in (None, "", [], {}) for v in item.values()), item
        for block in texts(got):
            assert "null" not in block and '"tags"' not in block


@pytest.mark.parametrize("fmt", ["json", "markdown", "csv"])
async def test_fields_keep_only_those_fields_anywhere_in_the_result(
    client: Client, backend: LocalBackend, fmt: str
) -> None:
    for i in range(3):
        await backend.create_link(full_link(i))
    chosen = ["code", "url", "clicks"]
    r = await client.call_tool("list_links", {"fields": chosen, "format": fmt})
    assert not r.is_error, text(r)
    page = r.structured_content
    assert page is not None
    assert [set(link) for link in page["links"]] == [set(chosen)] * 3
    others = [f for f in LINK_FIELDS if f not in chosen]
    everything = json.dumps(page) + "\n".join(texts(r))
    for name in others:
        assert f'"{name}"' not in everything, name
        if name not in ("id", "tags", "status", "title", "notes"):  # common words
            assert name not in "\n".join(texts(r)), name
    # values of other fields are absent too
    assert "Spring collection" not in everything and "newsletter" not in everything


async def test_csv_and_markdown_are_one_table_block_with_paging_outside(
    client: Client, backend: LocalBackend
) -> None:
    for i in range(5):
        await backend.create_link(full_link(i))
    r = await client.call_tool(
        "list_links", {"format": "csv", "fields": ["code", "tags", "clicks"], "limit": 3}
    )
    assert not r.is_error, text(r)
    blocks = texts(r)
    assert len(blocks) == 2
    rows = list(csv.reader(io.StringIO(blocks[0])))
    assert rows[0] == ["code", "tags", "clicks"]
    assert len(rows) == 4  # header + one row per link
    assert rows[1][1] == "apparel, newsletter, spring" and rows[1][2] == "0"
    page = r.structured_content
    assert page is not None and page["next_cursor"]
    assert page["next_cursor"] in blocks[1] and page["next_cursor"] not in blocks[0]

    md = await client.call_tool("list_links", {"format": "markdown", "limit": 3})
    table, paging = texts(md)
    lines = table.splitlines()
    assert lines[0] == "| " + " | ".join(SUMMARY_FIELDS) + " |"
    assert lines[1].startswith("|---") and len(lines) == 5
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])
    assert "cursor" in paging and "cursor" not in table


async def test_markdown_cells_cannot_break_the_table(client: Client, backend: LocalBackend) -> None:
    await backend.create_link(
        LinkCreate(url="https://example.com/p", code="pipe", title="a | b\nsecond line")
    )
    r = await client.call_tool("list_links", {"format": "markdown", "fields": ["code", "title"]})
    table = texts(r)[0].splitlines()
    assert len(table) == 3
    assert table[2] == "| pipe | a \\| b second line |"


def big_link(i: int, countries: str = "ABCDE") -> LinkCreate:
    """A link as large as the rules allow (the planted links of issue #21)."""
    long = "https://example.com/" + "p" * 2000
    return LinkCreate(
        url=long + f"?{i}",
        code=f"big-{i:03d}",
        title="t" * 200,
        notes="n" * 500,
        tags=[f"{k}-" + "x" * 40 for k in range(10)],
        variants=[Variant(url=f"{long}/{k}", weight=1, label="l" * 50) for k in range(10)],
        geo={f"{a}{b}": f"{long}/{a}{b}" for a in countries for b in "ABCDEFGHIJ"},
        devices={"ios": long, "android": long, "desktop": long},
    )


async def test_every_result_stays_under_the_ceiling(client: Client, backend: LocalBackend) -> None:
    made: list[Link] = [await backend.create_link(big_link(i)) for i in range(25)]
    r = await client.call_tool("list_links", {"limit": 100})
    assert not r.is_error, text(r)
    page = r.structured_content
    assert page is not None
    assert len(json.dumps(page, ensure_ascii=False).encode()) <= CEILING
    assert all(len(t.encode()) <= CEILING for t in texts(r))
    assert CUT_MARK in page["links"][0]["url"] and CUT_MARK in page["links"][0]["notes"]
    assert "100 KB" in texts(r)[0]
    # paging on with the cursor still gives every link once
    seen = [link["code"] for link in page["links"]]
    cursor = page["next_cursor"]
    for _ in range(25):
        if cursor is None:
            break
        more = await client.call_tool("list_links", {"limit": 100, "cursor": cursor})
        assert more.structured_content is not None
        seen += [link["code"] for link in more.structured_content["links"]]
        cursor = more.structured_content["next_cursor"]
    assert sorted(seen) == sorted(link.code for link in made)

    # get_link gives the whole link when it fits, each value uncut
    one = await client.call_tool("get_link", {"link": made[0].code})
    assert one.structured_content is not None
    assert one.structured_content["notes"] == "n" * 500
    assert len(json.dumps(one.structured_content).encode()) <= CEILING
    assert all(len(t.encode()) <= CEILING for t in texts(one))

    # (a smaller geo map: remote mode sends them over REST, whose bodies are at most 100 KB)
    bulk = await client.call_tool(
        "bulk_create_links",
        {"links": [big_link(100 + i, "").model_dump(mode="json", exclude_none=True)
                   for i in range(20)]},
    )  # fmt: skip
    assert not bulk.is_error, text(bulk)
    assert bulk.structured_content is not None
    assert len(bulk.structured_content["created"]) == 20
    assert len(json.dumps(bulk.structured_content).encode()) <= CEILING
    assert all(len(t.encode()) <= CEILING for t in texts(bulk))


async def test_get_analytics_over_fifty_clicked_links_stays_within_budget(
    client: Client, backend: LocalBackend, store: Store
) -> None:
    now = datetime.now(UTC)
    events = []
    countries = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "ES", "IT", "NL", "SE"]
    browsers = ["Chrome", "Firefox", "Safari", "Edge", "Opera", "Samsung Internet"]
    for i in range(50):
        link = await backend.create_link(LinkCreate(url=f"https://example.com/{i}"))
        for k in range(6):
            events.append(
                ClickEvent(
                    link_id=link.id,
                    workspace_id="default",
                    at=now - timedelta(hours=3 + 7 * k + i % 5),
                    country=countries[(i + k) % len(countries)],
                    device=["desktop", "mobile", "tablet"][k % 3],
                    browser=browsers[(i + k) % len(browsers)],
                    os=["Windows", "macOS", "iOS", "Android", "Linux"][(i + k) % 5],
                    referrer=f"news{(i + k) % 14}.example.org",
                    visitor=f"v{i}-{k}",
                )
            )
    await store.record_clicks(events)
    r = await client.call_tool("get_analytics", {})
    assert not r.is_error, text(r)
    report: dict[str, Any] | None = r.structured_content
    assert report is not None and report["clicks_in_period"] == 300
    assert content_chars(r) <= ANALYTICS_BUDGET, content_chars(r)
    # every documented key stays, even an empty one
    for key in ("total_clicks", "unique_visitors", "previous", "query", "timeseries",
                "countries", "devices", "browsers", "os", "referrers", "links"):  # fmt: skip
        assert key in report, key
    assert report["clicks_change_percent"] is None  # no clicks before: kept as null


async def test_a_link_over_the_ceiling_is_cut_and_points_at_its_resource(
    client: Client, backend: LocalBackend
) -> None:
    huge = await backend.create_link(big_link(7))  # ≈ 130 KB: 50 geo URLs of 2 KB
    r = await client.call_tool("get_link", {"link": huge.code})
    assert not r.is_error, text(r)
    assert r.structured_content is not None
    assert len(json.dumps(r.structured_content, ensure_ascii=False).encode()) <= CEILING
    assert all(len(t.encode()) <= CEILING for t in texts(r))
    assert f"clypt://links/{huge.code}" in texts(r)[0]
    whole = await client.read_resource(f"clypt://links/{huge.code}")
    block = whole.contents[0]
    assert hasattr(block, "text") and json.loads(block.text)["geo"] == huge.geo


async def test_bulk_create_takes_fields_and_format(client: Client) -> None:
    r = await client.call_tool(
        "bulk_create_links",
        {"links": [{"url": "https://e.com/1", "code": "bulk-one", "title": "One"},
                   {"url": "ftp://bad"}],
         "fields": ["code", "short_url"], "format": "csv"},
    )  # fmt: skip
    assert not r.is_error, text(r)
    table, summary = texts(r)
    rows = list(csv.reader(io.StringIO(table)))
    assert rows[0] == ["code", "short_url"] and rows[1][0] == "bulk-one" and len(rows) == 2
    assert "#1: url:" in summary
    assert r.structured_content is not None
    assert r.structured_content["created"] == [
        {"code": "bulk-one", "short_url": "https://clypt.test/bulk-one"}
    ]
    assert "One" not in json.dumps(r.structured_content) + table + summary
