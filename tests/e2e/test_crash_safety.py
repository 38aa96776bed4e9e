"""SIGKILL in the middle of concurrent writes: acknowledged writes survive, none is half-done."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import anyio.to_thread
import httpx2
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import STORE_KINDS
from tests.e2e import crash
from tests.http.live import make_key, start_serve
from tests.http.rest import bearer

# serial: kill -9 under load, and crash.REPORTS is read by conftest in this process (an xdist
# worker's module globals never reach the summary)
pytestmark = [pytest.mark.anyio, pytest.mark.serial]


async def test_sigkill_during_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "clypt.db"
    outcome = await anyio.to_thread.run_sync(crash.run, db, 400, 150)
    assert outcome.errors == []
    assert outcome.answered >= 150, "the server died before the kill"
    checked = crash.verify(db, outcome)
    crash.report("stdio", checked)
    assert checked["acknowledged_creates"] > 50 and checked["acknowledged_updates"] > 10
    # a restarted server opens the file and serves every link
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "clypt_mcp"],
        env={"CLYPT_DATABASE_URL": f"sqlite:///{db}", "HOME": str(tmp_path)},
    )
    with anyio.fail_after(60):
        async with Client(params, read_timeout_seconds=30) as c:
            r = await c.call_tool("list_links", {"limit": 1})
            assert r.structured_content is not None
            assert r.structured_content["total"] == checked["rows"]


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_sigkill_of_serve_during_rest_writes_loses_no_acknowledged_write(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    db = tmp_path / "clypt.db"
    env: dict[str, str] = {}
    if kind == "postgres":
        env["CLYPT_DATABASE_URL"] = request.getfixturevalue("pg_url")
    key = await anyio.to_thread.run_sync(lambda: make_key(db, **env))
    outcome = await anyio.to_thread.run_sync(
        lambda: crash.run_serve(db, key, 400, 150, database_url=env.get("CLYPT_DATABASE_URL"))
    )
    assert outcome.errors == []
    assert outcome.answered >= 150, "the server died before the kill"
    if kind == "postgres":
        checked = crash.verify_postgres(env["CLYPT_DATABASE_URL"], outcome)
    else:
        checked = crash.verify(db, outcome)
    crash.report(f"serve on {kind}", checked)
    assert checked["acknowledged_creates"] > 50 and checked["acknowledged_updates"] > 10
    # a restarted server opens the store and serves every link
    proc, origin = await anyio.to_thread.run_sync(lambda: start_serve(db, **env))
    try:
        async with httpx2.AsyncClient(base_url=origin, timeout=10) as http:
            r = await http.get("/api/v1/links", params={"limit": 1}, headers=bearer(key))
        assert r.status_code == 200, r.text
        assert r.json()["total"] == checked["rows"]
    finally:
        proc.terminate()
        proc.wait(30)
