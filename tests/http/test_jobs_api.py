"""/exports, /imports and /jobs over REST: 202 with the job, the file as CSV or JSON Lines,
camelCase only, scopes per kind, other workspaces' jobs invisible, cancel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ClickEvent, Scope
from tests.http.conftest import KeyFactory
from tests.http.rest import Api

pytestmark = pytest.mark.anyio
DATA = Path(__file__).parent.parent / "data" / "imports"


async def _done(api: Api, key: str, job_id: str) -> dict[str, Any]:
    with anyio.fail_after(20):
        while True:
            job: dict[str, Any] = (await api.get(f"/jobs/{job_id}", key)).json()
            if job["status"] not in ("queued", "running"):
                return job
            await anyio.sleep(0.05)


async def test_export_job_then_file_over_rest(
    api: Api, admin_key: str, other_key: str, make_key: KeyFactory, service: ClyptService
) -> None:
    link = (await api.post("/links", admin_key, json={"url": "https://e.com/1"})).json()
    now = service.clock()
    await service.store.record_clicks(
        [ClickEvent(link_id=link["id"], workspace_id="default", at=now, country="FR",
                    visitor=f"visitorhash{i}") for i in range(30)]
    )  # fmt: skip
    started = await api.post("/exports", admin_key, json={"kind": "clicks", "format": "jsonl",
                                                          "country": "FR"})  # fmt: skip
    assert started.status_code == 202, started.text
    job = started.json()
    assert set(job) == {"id", "kind", "status", "progress", "createdAt", "result", "error"}
    done = await _done(api, admin_key, job["id"])
    assert done["status"] == "done" and done["progress"] == {"done": 30, "total": 30}
    card = done["result"]
    assert set(card) == {"exportId", "uri", "format", "rows", "bytes", "expiresAt"}
    got = await api.get(f"/exports/{job['id']}", admin_key)
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/jsonl")
    lines = [json.loads(x) for x in got.text.splitlines()]
    assert len(lines) == 30 == card["rows"] and len(got.content) == card["bytes"]
    assert "visitorhash" not in got.text

    assert (await api.get(f"/jobs/{job['id']}", other_key)).status_code == 404
    assert (await api.get(f"/exports/{job['id']}", other_key)).status_code == 404
    reader = await make_key(Scope.LINKS_READ)
    hidden = await api.get(f"/exports/{job['id']}", reader)
    assert hidden.status_code == 403 and "analytics:read" in hidden.text
    denied = await api.post("/exports", reader, json={"kind": "clicks"})
    assert denied.status_code == 403 and "analytics:read" in denied.text
    listed = (await api.get("/jobs", admin_key)).json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]] and listed["nextCursor"] is None

    snake = await api.post("/exports", admin_key, json={"kind": "links", "format": "csv",
                                                        "query": "x", "dry_run": True})  # fmt: skip
    assert snake.status_code == 400
    mixed = await api.post("/exports", admin_key, json={"kind": "links", "country": "FR"})
    assert mixed.status_code == 400 and "country" in mixed.text, mixed.text
    bad = await api.post("/exports", admin_key, json={"kind": "clicks", "format": "xlsx"})
    assert bad.status_code == 422 and "format" in bad.text
    assert len((await api.get("/jobs", admin_key)).json()["jobs"]) == 1  # nothing started


async def test_import_job_and_cancel_over_rest(
    api: Api, admin_key: str, make_key: KeyFactory
) -> None:
    content = (DATA / "kutt.json").read_text()
    started = await api.post("/imports", admin_key, json={"source": "kutt", "content": content})
    assert started.status_code == 202, started.text
    done = await _done(api, admin_key, started.json()["id"])
    report = done["result"]
    assert [x["code"] for x in report["created"]] == ["handbook", "roadmap"]
    assert [x["row"] for x in report["invalid"]] == [3]
    link = (await api.get("/links/handbook", admin_key)).json()
    assert link["importedClicks"] == 64 and link["title"] == "Team handbook"

    cancelled = await api.post(f"/jobs/{done['id']}/cancel", admin_key)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "done"  # finished
    unknown = await api.post("/imports", admin_key, json={"source": "tinyurl", "content": "x"})
    assert unknown.status_code == 422 and "source" in unknown.text
    reader = await make_key(Scope.LINKS_READ)
    denied = await api.post("/imports", reader, json={"source": "kutt", "content": content})
    assert denied.status_code == 403 and "links:write" in denied.text
    big = "x" * 150_000  # over the usual 100 KB body, within an import's
    large = await api.post("/imports", admin_key, json={"source": "kutt", "content": big})
    assert large.status_code == 422 and "not JSON" in large.text
