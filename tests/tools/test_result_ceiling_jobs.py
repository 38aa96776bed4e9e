"""Issue 21 item 9 for the job tools and CSV tables (embedded and remote backends, SQLite and
PostgreSQL): an import report of thousands of rows stays under the 100 KB ceiling in
import_links, get_job and list_jobs, each list saying how many rows it left out (without the
list shortening these calls were "Error executing tool"); a `csv` table escapes formula cells."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent, TextResourceContents

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ALL_SCOPES, LinkCreate, Principal
from clypt_mcp.tools.shaping import CEILING, LEFT_OUT, bounded
from tests.conftest import ServerFactory, text

pytestmark = pytest.mark.anyio
WHO = Principal(workspace_id="default", scopes=ALL_SCOPES)
ROWS = 3000


def shlink_file(rows: int, first: int = 0) -> str:
    """A Shlink short_urls.csv of `rows` links with long destinations."""
    head = "createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits\n"
    path = "p" * 150
    return head + "".join(
        f"2024-11-02T10:15:30+01:00,,imp{i:05d},https://s.example.com/imp{i:05d},"
        f"https://example.com/{path}/{i},Title {i},,{i}\n"
        for i in range(first, first + rows)
    )


def within_ceiling(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    data: dict[str, Any] | None = result.structured_content
    assert data is not None
    assert len(json.dumps(data, ensure_ascii=False).encode()) <= CEILING
    for block in result.content:
        if isinstance(block, TextContent):
            assert len(block.text.encode()) <= CEILING
    return data


def shown_and_left(report: dict[str, Any], name: str) -> int:
    left: int = report.get(LEFT_OUT, {}).get(name, 0)
    return len(report[name]) + left


async def test_a_report_of_thousands_of_rows_stays_under_the_ceiling(
    make_server: ServerFactory,
) -> None:
    async with Client(await make_server()) as c:
        r = await c.call_tool("import_links", {"source": "shlink", "content": shlink_file(ROWS)})
        report = within_ceiling(r)
        assert 0 < len(report["created"]) < ROWS  # the head of the list, in file order
        assert [x["row"] for x in report["created"][:3]] == [1, 2, 3]
        assert shown_and_left(report, "created") == ROWS
        assert f"{ROWS} created" in text(r) and LEFT_OUT in text(r)

        # again: every row is skipped (code taken), with the existing link
        again = within_ceiling(
            await c.call_tool("import_links", {"source": "shlink", "content": shlink_file(ROWS)})
        )
        assert shown_and_left(again, "skipped") == ROWS and again["created"] == []

        jobs = within_ceiling(await c.call_tool("list_jobs", {}))
        assert len(jobs["jobs"]) == 2  # every job of the page stays listed
        for job in jobs["jobs"]:
            assert job["kind"] == "import_links" and job["status"] == "done"
            total = sum(shown_and_left(job["result"], k) for k in ("created", "skipped"))
            assert total == ROWS
        one = within_ceiling(await c.call_tool("get_job", {"job_id": jobs["jobs"][1]["id"]}))
        assert shown_and_left(one, "created") == ROWS
        assert len(one["created"]) > len(jobs["jobs"][1]["result"]["created"])


def test_lists_are_shortened_only_when_cutting_strings_is_not_enough() -> None:
    small = {"created": [{"row": i, "code": f"c{i}"} for i in range(10)]}
    assert bounded(small) == small  # within the ceiling: untouched, no marker
    long_text = {"notes": "n" * 150_000, "tags": ["a", "b"]}
    cut = bounded(long_text)
    assert cut["tags"] == ["a", "b"] and LEFT_OUT not in cut  # strings cut, lists whole
    many = [{"row": i, "code": f"code{i:06d}", "reason": "x" * 60} for i in range(20_000)]
    data = bounded({"invalid": many, "created": [{"row": 0}]})
    assert len(json.dumps(data, ensure_ascii=False).encode()) <= CEILING
    assert data["created"] == [{"row": 0}]
    assert len(data["invalid"]) + data[LEFT_OUT]["invalid"] == 20_000
    assert data["invalid"][0] == many[0]
    bare = bounded(many)  # a bare list (the text copy of a list result)
    assert isinstance(bare, list) and 0 < len(bare) < len(many) and bare[0] == many[0]


async def test_csv_tables_in_results_escape_formula_cells(
    make_server: ServerFactory, service: ClyptService
) -> None:
    evil = ['=HYPERLINK("http://x.example","y")', "+1+2", "-3", "@SUM(A1)", "\tx"]
    for i, title in enumerate(evil):
        await service.create_link(
            WHO, LinkCreate(url=f"https://example.com/{i}", title=title, tags=[f"@t{i}"])
        )
    async with Client(await make_server()) as c:
        r = await c.call_tool(
            "list_links", {"format": "csv", "fields": ["code", "title", "tags"], "limit": 10}
        )
        assert not r.is_error, text(r)
        first = r.content[0]
        assert isinstance(first, TextContent)
        rows = list(csv.reader(io.StringIO(first.text)))
        cells = [cell for row in rows[1:] for cell in row]
        assert len(rows) == 1 + len(evil)
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))], cells
        # the text is kept, led by a quote
        assert sorted(row[1] for row in rows[1:]) == sorted("'" + t for t in evil)


async def test_export_links_csv_escapes_formula_cells(
    make_server: ServerFactory, service: ClyptService
) -> None:
    evil = ['=HYPERLINK("http://x.example","y")', "+1+2", "-3", "@SUM(A1)"]
    for i, title in enumerate(evil):
        await service.create_link(
            WHO,
            LinkCreate(url=f"https://example.com/{i}", title=title, notes=evil[-1 - i],
                       tags=[f"={i}"], folder=f"@f{i}"),
        )  # fmt: skip
    async with Client(await make_server()) as c:
        r = await c.call_tool("export_links", {"format": "csv"})
        assert not r.is_error, text(r)
        card = r.structured_content
        assert card is not None and card["rows"] == len(evil)
        read = await c.read_resource(card["uri"])
        (contents,) = read.contents
        assert isinstance(contents, TextResourceContents)
    rows = list(csv.DictReader(io.StringIO(contents.text)))
    cells = [cell for row in rows for cell in row.values() if cell]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))], cells
    assert sorted(row["title"] for row in rows) == sorted("'" + t for t in evil)
    assert {row["folder"] for row in rows} == {f"'@f{i}" for i in range(len(evil))}
