"""Exports and imports as jobs over MCP (embedded and remote backends, SQLite and PostgreSQL):
an export answers a resource link with its card, never the file; resources/read gives every
row; progress notifications arrive; jobs are listed, read and cancelled; state is in the store
so a new service over the same store still lists them."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp import Client
from mcp.types import ResourceLink, TextContent, TextResourceContents

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import (
    ALL_SCOPES,
    AbTestSpec,
    ClickEvent,
    LinkCreate,
    Principal,
    Scope,
    Variant,
)
from clypt_mcp.tools.jobs import CALL_WAIT
from tests.conftest import ServerFactory, text

pytestmark = pytest.mark.anyio
WHO = Principal(workspace_id="default", scopes=ALL_SCOPES)
LOG_FIELDS = ["id", "time", "code", "variant", "country", "city", "device", "browser", "os",
              "referrer", "traffic"]  # fmt: skip


async def seed_clicks(service: ClyptService, n: int) -> list[str]:
    """`n` clicks over two links (one tagged spring); the codes."""
    a = await service.create_link(WHO, LinkCreate(url="https://e.com/a", code="alpha",
                                                  tags=["spring"]))  # fmt: skip
    b = await service.create_link(WHO, LinkCreate(url="https://e.com/b", code="bravo"))
    base = datetime(2026, 11, 1, tzinfo=UTC)
    events = [
        ClickEvent(
            link_id=(a, b)[i % 2].id,
            workspace_id="default",
            at=base + timedelta(seconds=i // 3),
            country=("FR", "US")[i % 2],
            device="mobile",
            browser="Firefox",
            os="Linux",
            referrer="=cmd|evil",  # a formula: CSV cells must not start with it
            traffic="human",
            visitor=f"visitorhash{i:07d}secret",
            city="Lyon, ARA, FR",
        )
        for i in range(n)
    ]
    for start in range(0, n, 5000):
        await service.store.record_clicks(events[start : start + 5000])
    return [a.code, b.code]


def _link_block(result: Any) -> ResourceLink:
    blocks = [b for b in result.content if isinstance(b, ResourceLink)]
    assert len(blocks) == 1, result.content
    return blocks[0]


async def _read(c: Client, uri: str) -> TextResourceContents:
    read = await c.read_resource(uri)
    (contents,) = read.contents
    assert isinstance(contents, TextResourceContents)
    return contents


async def test_export_clicks_answers_a_resource_link_and_the_file_has_every_row(
    make_server: ServerFactory, service: ClyptService
) -> None:
    n = 3000
    await seed_clicks(service, n)
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with Client(await make_server()) as c:
        r = await c.call_tool("export_clicks", {"format": "csv"}, progress_callback=on_progress)
        assert not r.is_error, r.content
        link = _link_block(r)
        card = r.structured_content
        assert card is not None
        assert card["uri"] == str(link.uri) == f"clypt://exports/{card['export_id']}"
        assert card["rows"] == n and card["format"] == "csv"
        assert datetime.fromisoformat(card["expires_at"]) > datetime.now(UTC) + timedelta(days=6)
        said = "".join(b.text for b in r.content if isinstance(b, TextContent))
        assert "visitorhash" not in said and "Firefox" not in said  # the file is not pasted
        assert len(said) < 2000
        assert seen and seen[-1] == (n, n)

        contents = await _read(c, card["uri"])
        assert contents.mime_type is not None and contents.mime_type.startswith("text/csv")
        assert len(contents.text.encode()) == card["bytes"] == link.size
        rows = list(csv.DictReader(io.StringIO(contents.text)))
        assert list(rows[0]) == LOG_FIELDS
        assert len(rows) == n and len({row["id"] for row in rows}) == n
        assert rows[0]["time"] >= rows[-1]["time"]  # newest first
        assert {row["referrer"] for row in rows} == {"'=cmd|evil"}  # OWASP: led by a quote
        assert "visitorhash" not in contents.text

        jl = await c.call_tool("export_clicks", {"format": "jsonl", "link": "alpha",
                                                 "country": "FR"})  # fmt: skip
        card = jl.structured_content
        assert card is not None and card["rows"] == n // 2
        lines = (await _read(c, card["uri"])).text.splitlines()
        records = [json.loads(line) for line in lines]
        assert len(records) == n // 2
        assert {r["code"] for r in records} == {"alpha"} and {r["country"] for r in records} == {
            "FR"
        }
        assert set(records[0]) <= set(LOG_FIELDS) and "visitor" not in records[0]


async def test_export_links_selects_as_list_links_does(
    make_server: ServerFactory, service: ClyptService
) -> None:
    await service.create_link(WHO, LinkCreate(url="https://e.com/geo", code="geo-link",
                                              geo={"FR": "https://e.com/fr"}))  # fmt: skip
    for i in range(130):
        tags = ["spring"] if i % 2 else None
        await service.create_link(WHO, LinkCreate(url=f"https://e.com/{i}", code=f"link-{i:03d}",
                                                  tags=tags, title=f"Title {i}"))  # fmt: skip
    async with Client(await make_server()) as c:
        r = await c.call_tool("export_links", {"tag": "spring", "format": "jsonl"})
        card = r.structured_content
        assert card is not None and card["rows"] == 65, r.content
        records = [json.loads(x) for x in (await _read(c, card["uri"])).text.splitlines()]
        assert len({x["code"] for x in records}) == 65
        assert all(x["tags"] == ["spring"] for x in records)
        assert "password_hash" not in records[0] and records[0]["short_url"].endswith(
            records[0]["code"]
        )
        whole = await c.call_tool("export_links", {})
        card = whole.structured_content
        assert card is not None and card["rows"] == 131
        rows = list(csv.DictReader(io.StringIO((await _read(c, card["uri"])).text)))
        codes = ["geo-link"] + [f"link-{i:03d}" for i in range(130)]
        assert [row["code"] for row in rows] == codes  # oldest first
        assert "imported_clicks" in rows[0] and "password_hash" not in rows[0]
        geo = await c.call_tool("export_links", {"query": "geo-link", "format": "jsonl"})
        assert geo.structured_content is not None
        (record,) = [json.loads(x) for x in (await _read(c, geo.structured_content["uri"]))
                     .text.splitlines()]  # fmt: skip
        assert record["geo"] == {"FR": "https://e.com/fr"} and record["code"] == "geo-link"


async def test_export_links_carries_conversion_tracking_and_the_ab_test(
    make_server: ServerFactory, service: ClyptService
) -> None:
    """#15's link fields travel in exports as list_links shows them: JSON Lines has
    track_conversions and the A/B test, CSV the flat track_conversions column."""
    variants = [
        Variant(url="https://e.com/a", label="A"),
        Variant(url="https://e.com/b", label="B"),
    ]
    await service.create_link(
        WHO,
        LinkCreate(
            url="https://e.com/ab", code="ab-link", variants=variants, track_conversions=True,
            ab_test=AbTestSpec(goal="signup", min_visitors_per_variant=50),
        ),
    )  # fmt: skip
    await service.create_link(WHO, LinkCreate(url="https://e.com/plain", code="plain-link"))
    async with Client(await make_server()) as c:
        r = await c.call_tool("export_links", {"format": "jsonl"})
        assert r.structured_content is not None, r.content
        lines = (await _read(c, r.structured_content["uri"])).text.splitlines()
        by_code = {x["code"]: x for x in map(json.loads, lines)}
        tracked, plain = by_code["ab-link"], by_code["plain-link"]
        assert tracked["track_conversions"] is True and plain["track_conversions"] is False
        assert tracked["ab_test"]["status"] == "running" and tracked["ab_test"]["goal"] == "signup"
        assert tracked["ab_test"]["min_visitors_per_variant"] == 50 and "ab_test" not in plain
        r = await c.call_tool("export_links", {"format": "csv"})
        assert r.structured_content is not None, r.content
        text = (await _read(c, r.structured_content["uri"])).text
        rows = {row["code"]: row for row in csv.DictReader(io.StringIO(text))}
        assert rows["ab-link"]["track_conversions"] == "True"
        assert rows["plain-link"]["track_conversions"] == "False"


async def test_jobs_are_listed_read_and_kept_in_the_store(
    make_server: ServerFactory, service: ClyptService
) -> None:
    await seed_clicks(service, 200)
    async with Client(await make_server()) as c:
        r = await c.call_tool("export_clicks", {})
        export_id = r.structured_content["export_id"]
        listed = await c.call_tool("list_jobs", {})
        jobs = listed.structured_content["jobs"]
        assert [j["id"] for j in jobs] == [export_id]
        assert jobs[0]["kind"] == "export_clicks" and jobs[0]["status"] == "done"
        assert jobs[0]["result"]["uri"] == f"clypt://exports/{export_id}"
        again = await c.call_tool("get_job", {"job_id": export_id})
        assert str(_link_block(again).uri) == f"clypt://exports/{export_id}"
        missing = await c.call_tool("get_job", {"job_id": "job_nothere"})
        assert missing.is_error and "job_nothere" in text(missing)
        done = await c.call_tool("cancel_job", {"job_id": export_id})
        assert done.structured_content["uri"] == f"clypt://exports/{export_id}"

    # A new service over the same store (a restart): the job and its file are still there.
    fresh = ClyptService(service.store, base_url=service.base_url)
    page = await fresh.jobs.list(WHO, None, 20)
    assert [j.id for j in page.jobs] == [export_id] and page.jobs[0].status == "done"
    body, _ = await fresh.jobs.export_file(WHO, export_id)
    assert len(body.splitlines()) == 201


async def test_a_job_is_seen_only_with_the_scope_of_its_kind(
    make_server: ServerFactory, service: ClyptService
) -> None:
    await seed_clicks(service, 10)
    job = await service.jobs.start_export(WHO, _clicks())
    await service.jobs.wait(WHO, job.id, None, 10)
    reader = frozenset({Scope.LINKS_READ})
    async with Client(await make_server(reader)) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert {"export_links", "list_jobs", "get_job", "cancel_job"} <= names
        assert "export_clicks" not in names and "import_links" not in names
        listed = await c.call_tool("list_jobs", {})
        assert listed.structured_content == {"jobs": [], "next_cursor": None}
        hidden = await c.call_tool("get_job", {"job_id": job.id})
        assert hidden.is_error and "analytics:read" in text(hidden)
        with pytest.raises(Exception, match="analytics:read"):
            await c.read_resource(f"clypt://exports/{job.id}")


def _clicks(**kw: Any) -> Any:
    from clypt_mcp.models import ClickExport

    return ClickExport(**kw)


async def test_cancel_stops_a_running_export_and_deletes_its_file(
    service: ClyptService,
) -> None:
    from clypt_mcp.core import jobs as jobs_module

    await seed_clicks(service, 3000)
    old_page = jobs_module.CLICK_PAGE
    jobs_module.CLICK_PAGE = 100  # many pages, so there is time to cancel between two
    try:
        job = await service.jobs.start_export(WHO, _clicks())
        cancelled = await service.jobs.cancel(WHO, job.id)
        assert cancelled.status == "cancelled"
        waited = await service.jobs.wait(WHO, job.id, None, 10)
        assert waited.status == "cancelled"
        assert await service.store.jobs.parts(job.id) == []
        with pytest.raises(Exception, match="not a finished export"):
            await service.jobs.export_file(WHO, job.id)
    finally:
        jobs_module.CLICK_PAGE = old_page


async def test_a_job_whose_process_went_away_is_marked_failed(service: ClyptService) -> None:
    from clypt_mcp.store.base import JobRow

    long_ago = int((time.time() - 3600) * 1e6)
    row = JobRow(id="job_lost", workspace_id="default", kind="export_clicks", status="running",
                 done=5, total=10, params={"format": "csv"}, result=None, error=None,
                 created_at=long_ago, heartbeat_at=long_ago,
                 expires_at=long_ago + 10**13)  # fmt: skip
    await service.store.jobs.create(row)
    await service.store.jobs.start("job_lost", long_ago)  # (it is queued as created)
    job = await service.jobs.get(WHO, "job_lost")
    assert job.status == "failed" and job.error and "stopped" in job.error


async def test_export_of_a_missing_link_is_refused_before_any_job(
    make_server: ServerFactory, service: ClyptService
) -> None:
    async with Client(await make_server()) as c:
        r = await c.call_tool("export_clicks", {"link": "nope"})
        assert r.is_error and "nope" in text(r)
        bad = await c.call_tool("export_clicks", {"format": "xlsx"})
        assert bad.is_error and "format" in text(bad)
        listed = await c.call_tool("list_jobs", {})
        assert listed.structured_content["jobs"] == []


async def test_call_wait_is_within_a_tool_time_limit() -> None:
    assert CALL_WAIT <= 50  # hosts commonly give a tool call 60 s


async def test_import_links_reports_each_row_and_a_second_run_creates_nothing(
    make_server: ServerFactory, service: ClyptService
) -> None:
    from pathlib import Path

    content = (Path(__file__).parent.parent / "data" / "imports" / "shlink.csv").read_text()
    await service.create_link(WHO, LinkCreate(url="https://elsewhere.example/", code="newsletter"))
    async with Client(await make_server()) as c:
        r = await c.call_tool("import_links", {"source": "shlink", "content": content})
        assert not r.is_error, r.content
        report = r.structured_content
        assert report is not None
        assert [(x["row"], x["code"]) for x in report["created"]] == [(1, "kZp3q")]
        (skipped,) = report["skipped"]
        assert skipped["row"] == 2 and skipped["reason"] == "code taken"
        assert skipped["existing"]["url"] == "https://elsewhere.example/"
        assert [(x["row"], x["code"]) for x in report["invalid"]] == [(3, "app"), (4, "ftp-link")]
        assert "reserved" in report["invalid"][0]["reason"]
        link = await c.call_tool("get_link", {"link": "kZp3q"})
        assert link.structured_content is not None
        assert link.structured_content["imported_clicks"] == 517
        assert link.structured_content["clicks"] == 0
        assert link.structured_content["created_at"].startswith("2024-11-02T09:15:30")

        again = await c.call_tool("import_links", {"source": "shlink", "content": content})
        report = again.structured_content
        assert report is not None and report["created"] == []
        assert [x["row"] for x in report["skipped"]] == [1, 2]
        bad = await c.call_tool("import_links", {"source": "kutt", "content": "not json"})
        assert bad.is_error and "content: not JSON" in text(bad)
        jobs = (await c.call_tool("list_jobs", {})).structured_content
        assert jobs is not None
        assert [j["kind"] for j in jobs["jobs"]] == ["import_links", "import_links"]
