"""`clypt-mcp` as a real stdio subprocess, driven by the SDK's client."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import text

pytestmark = pytest.mark.anyio

WRITER = Path(__file__).with_name("writer.py")


def server_params(db_path: Path, **env: str) -> StdioServerParameters:
    home = str(db_path.parent)
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "clypt_mcp"],
        env={
            "CLYPT_DATABASE_URL": f"sqlite:///{db_path}",
            "CLYPT_BASE_URL": "https://clypt.test",
            "HOME": home,
            "XDG_DATA_HOME": home,
            **env,
        },
    )


def ok(result: Any) -> dict[str, Any]:
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return dict(result.structured_content)


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_create_list_update_analytics_delete_over_stdio(
    tmp_path: Path, mode: str, version: str
) -> None:
    db_path = tmp_path / "clypt.db"
    with anyio.fail_after(60):
        async with Client(server_params(db_path), mode=mode, read_timeout_seconds=30) as c:
            assert c.protocol_version == version
            assert c.server_info is not None and c.server_info.name == "clypt"
            made = ok(
                await c.call_tool(
                    "create_link",
                    {
                        "url": "https://example.com/spring",
                        "code": "spring",
                        "tags": ["spring-sale"],
                    },
                )
            )
            assert made["short_url"] == "https://clypt.test/spring"
            page = ok(await c.call_tool("list_links", {"tag": "spring-sale"}))
            assert [link["code"] for link in page["links"]] == ["spring"]
            changed = ok(await c.call_tool("update_link", {"link": "spring", "title": "Spring"}))
            assert changed["title"] == "Spring" and changed["tags"] == ["spring-sale"]
            report = ok(await c.call_tool("get_analytics", {"link": "spring", "period": "30d"}))
            assert report["clicks_in_period"] == 0 and report["query"]["interval"] == "day"
            gone = ok(await c.call_tool("delete_link", {"link": "spring"}))
            assert gone == {"deleted": True, "permanent": False}
            page = ok(await c.call_tool("list_links", {}))
            assert page["total"] == 0
            bad = await c.call_tool("create_link", {"url": "ftp://x"})
            assert bad.is_error
            assert (await c.list_tools()).tools
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT deleted_at IS NOT NULL FROM links").fetchall() == [(1,)]
    if os.name == "posix":
        assert (db_path.stat().st_mode & 0o777) == 0o600


async def test_read_only_scopes_over_stdio(tmp_path: Path) -> None:
    params = server_params(tmp_path / "clypt.db", CLYPT_SCOPES="links:read,analytics:read")
    with anyio.fail_after(60):
        async with Client(params, read_timeout_seconds=30) as c:
            names = {t.name for t in (await c.list_tools()).tools}
    assert names == {"list_links", "get_link", "get_qr_code", "get_analytics", "list_clicks",
                     "export_links", "export_clicks", "list_jobs", "get_job",
                     "cancel_job"}  # fmt: skip


async def test_bad_configuration_fails_at_start_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CLYPT_BASE_URL": "not a url"}
    done = await anyio.run_process(
        [sys.executable, "-m", "clypt_mcp"], env=env, check=False, stdin=None
    )
    err = done.stderr.decode()
    assert done.returncode == 2
    assert err.startswith("clypt-mcp: CLYPT_BASE_URL: ")
    assert err.count("\n") == 1 and "Traceback" not in err


async def test_two_stdio_servers_and_a_third_writer_share_one_file(tmp_path: Path) -> None:
    db_path = tmp_path / "clypt.db"
    per_writer = 200
    errors: list[str] = []

    async def stdio_writer(name: str) -> None:
        async with Client(server_params(db_path), read_timeout_seconds=60) as c:
            for i in range(per_writer):
                r = await c.call_tool("create_link", {"url": f"https://example.com/{name}/{i}"})
                if r.is_error:
                    errors.append(text(r))

    async def process_writer() -> None:
        done = await anyio.run_process(
            [sys.executable, str(WRITER), str(db_path), str(per_writer)], check=False
        )
        if done.returncode != 0:
            errors.append(done.stderr.decode()[-2000:])

    with anyio.fail_after(240):
        async with anyio.create_task_group() as tg:
            tg.start_soon(stdio_writer, "a")
            tg.start_soon(stdio_writer, "b")
            tg.start_soon(process_writer)
    assert errors == []
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT code) FROM links").fetchone() == (
            3 * per_writer,
            3 * per_writer,
        )
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
