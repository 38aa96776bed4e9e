"""#17 acceptance 3 on real processes: an export of 100,000 clicks answers a resource link
within the tool's time limit over `/mcp` of `clypt-mcp serve` and over stdio, the file has
every row, `resources/read` of it works on both, and after `serve` restarts the job is still
listed (and its file still served)."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ResourceLink, TextResourceContents

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ALL_SCOPES, ClickEvent, LinkCreate, Principal
from clypt_mcp.store.sqlite import SqliteStore
from clypt_mcp.tools.jobs import CALL_WAIT
from tests.e2e.test_stdio import server_params
from tests.http.live import make_key, start_serve

pytestmark = pytest.mark.anyio
CLICKS = 100_000
WHO = Principal(workspace_id="default", scopes=ALL_SCOPES)
TIMES: dict[str, float] = {}


async def _seed(db: Path) -> None:
    store = SqliteStore(db)
    await store.open()
    try:
        service = ClyptService(store, base_url="https://clypt.test")
        links = [
            await service.create_link(WHO, LinkCreate(url=f"https://e.com/{i}", code=f"big-{i}"))
            for i in range(10)
        ]
        base = datetime(2026, 10, 1, tzinfo=UTC)
        batch: list[ClickEvent] = []
        for i in range(CLICKS):
            batch.append(
                ClickEvent(
                    link_id=links[i % 10].id,
                    workspace_id="default",
                    at=base + timedelta(seconds=i * 7),
                    country="FR",
                    device="desktop",
                    browser="Chrome",
                    os="Windows",
                    referrer="news.example.com",
                    traffic="human",
                    visitor=f"v{i % 5000:05d}",
                )
            )
            if len(batch) == 10_000:
                await store.record_clicks(batch)
                batch = []
    finally:
        await store.close()


def _check_file(contents: TextResourceContents) -> None:
    rows = list(csv.DictReader(io.StringIO(contents.text)))
    assert len(rows) == CLICKS
    assert len({row["id"] for row in rows}) == CLICKS  # every click once
    assert {row["code"] for row in rows} == {f"big-{i}" for i in range(10)}


async def _export_and_read(c: Client, where: str) -> str:
    started = time.monotonic()
    r = await c.call_tool("export_clicks", {})
    TIMES[where] = time.monotonic() - started
    assert not r.is_error, r.content
    assert TIMES[where] < CALL_WAIT  # the link came back, not a job id to poll
    (link,) = [b for b in r.content if isinstance(b, ResourceLink)]
    card = r.structured_content
    assert card is not None and card["rows"] == CLICKS and card["uri"] == str(link.uri)
    read = await c.read_resource(card["uri"])
    (contents,) = read.contents
    assert isinstance(contents, TextResourceContents)
    assert len(contents.text.encode()) == card["bytes"]
    _check_file(contents)
    return str(card["export_id"])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


async def test_export_of_100000_clicks_over_mcp_and_stdio_survives_a_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "clypt.db"
    key = make_key(db)
    await _seed(db)
    auth = {"authorization": f"Bearer {key}"}

    proc, origin = start_serve(db)
    try:
        with anyio.fail_after(240):
            async with (
                httpx2.AsyncClient(headers=auth, timeout=120) as http,
                Client(streamable_http_client(f"{origin}/mcp", http_client=http)) as c,
            ):
                export_id = await _export_and_read(c, "/mcp")
    finally:
        _stop(proc)

    proc, origin = start_serve(db)  # a restart: the job and its file are in the store
    try:
        async with httpx2.AsyncClient(base_url=origin, headers=auth, timeout=120) as http:
            jobs = (await http.get("/api/v1/jobs")).json()["jobs"]
            assert [(j["id"], j["status"]) for j in jobs] == [(export_id, "done")]
            assert jobs[0]["result"]["rows"] == CLICKS
            assert jobs[0]["result"]["uri"] == f"clypt://exports/{export_id}"
            got = await http.get(f"/api/v1/exports/{export_id}")
            assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
            assert got.text.count("\n") == CLICKS + 1
            with anyio.fail_after(120):
                async with Client(streamable_http_client(f"{origin}/mcp", http_client=http)) as c:
                    read = await c.read_resource(f"clypt://exports/{export_id}")
                    (contents,) = read.contents
                    assert isinstance(contents, TextResourceContents)
                    _check_file(contents)
    finally:
        _stop(proc)

    with anyio.fail_after(240):
        async with Client(server_params(db)) as c:
            stdio_id = await _export_and_read(c, "stdio")
            listed = await c.call_tool("list_jobs", {})
            assert listed.structured_content is not None
            ids = [j["id"] for j in listed.structured_content["jobs"]]
            assert ids == [stdio_id, export_id]
    print(f"export of {CLICKS} clicks: " + ", ".join(f"{k} {v:.1f} s" for k, v in TIMES.items()))
