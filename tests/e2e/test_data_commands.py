"""`clypt-mcp links import|export` and `clicks export` on real files and processes."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ClickEvent, LinkCreate, Principal
from clypt_mcp.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


async def _cli(db: Path, *args: str) -> tuple[int, str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(db.parent),
        "CLYPT_DATABASE_URL": f"sqlite:///{db}",
        "CLYPT_BASE_URL": "https://clypt.test",
    }
    done = await anyio.run_process([sys.executable, "-m", "clypt_mcp", *args], env=env, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def _store_with_clicks(db: Path, clicks: dict[str, list[dict[str, Any]]]) -> None:
    """A SQLite store at `db` with a link per code (https://e.com/CODE) and its clicks."""
    store = SqliteStore(db)
    await store.open()
    try:
        service = ClyptService(store)
        p = Principal(workspace_id="default")
        events = []
        for code, fields in clicks.items():
            link = await service.create_link(p, LinkCreate(url=f"https://e.com/{code}", code=code))
            events += [ClickEvent(link_id=link.id, workspace_id="default", **f) for f in fields]
        await store.record_clicks(events)
    finally:
        await store.close()


async def test_import_then_export_links(tmp_path: Path) -> None:
    db = tmp_path / "clypt.db"
    source = tmp_path / "links.csv"
    source.write_text(
        "url,code,title,tags,folder\n"
        'https://example.com/a,spring-a,Spring A,"sale,spring",Marketing/2026\n'
        "ftp://bad.example,,,,\n"
        "https://example.com/b,,Spring B,sale,\n",
        encoding="utf-8",
    )
    code, _, err = await _cli(db, "links", "import", str(source))
    assert code == 1  # one row failed
    assert f"{source}:3: url:" in err and "imported 2 of 3 links" in err
    code, out, err = await _cli(db, "links", "export")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["title"] for r in rows] == ["Spring A", "Spring B"]
    assert rows[0]["code"] == "spring-a" and rows[0]["tags"] == "sale,spring"
    assert rows[0]["folder"] == "Marketing/2026"
    assert rows[0]["short_url"] == "https://clypt.test/spring-a"
    code, out, _ = await _cli(db, "links", "export", "--format", "json")
    assert [link["title"] for link in json.loads(out)] == ["Spring A", "Spring B"]


async def test_import_rejects_an_unknown_column(tmp_path: Path) -> None:
    source = tmp_path / "links.csv"
    source.write_text("url,colour\nhttps://e.com,red\n", encoding="utf-8")
    code, _, err = await _cli(tmp_path / "clypt.db", "links", "import", str(source))
    assert code == 1 and "unknown CSV columns: colour" in err and "Traceback" not in err


async def test_export_clicks_as_csv_and_jsonl(tmp_path: Path) -> None:
    db = tmp_path / "clypt.db"
    now = datetime.now(UTC).replace(microsecond=0)
    await _store_with_clicks(db, {
        "c-a": [{"at": now - timedelta(days=3), "country": "US"},
                {"at": now - timedelta(hours=1), "bot": True}],
        "c-b": [{"at": now - timedelta(hours=2)}],
    })  # fmt: skip

    code, out, err = await _cli(db, "clicks", "export")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["code"] for r in rows] == ["c-a", "c-a", "c-b"]
    assert rows[0]["country"] == "US" and rows[1]["bot"] == "True"
    assert "exported 3 clicks" in err

    since = (now - timedelta(days=1)).date().isoformat()
    code, out, _ = await _cli(db, "clicks", "export", "--format", "jsonl", "--link", "c-a",
                              "--since", since)  # fmt: skip
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 1 and lines[0]["code"] == "c-a" and lines[0]["bot"] is True
    assert lines[0]["time"] == (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")


async def test_purge_clicks_keeps_the_retention_window_and_the_analytics(tmp_path: Path) -> None:
    db = tmp_path / "clypt.db"
    now = datetime.now(UTC)
    await _store_with_clicks(
        db, {"c-a": [{"at": now - timedelta(days=age)} for age in (2, 20, 200)]}
    )

    code, _, err = await _cli(db, "clicks", "purge")
    assert code == 2 and "--older-than" in err and "CLYPT_CLICK_RETENTION_DAYS" in err
    code, _, err = await _cli(db, "clicks", "purge", "--older-than", "0")
    assert code == 2 and "--older-than: give a number of days from 1" in err
    code, _, err = await _cli(db, "clicks", "purge", "--older-than", "30")
    assert code == 0, err
    assert "deleted 1 rows" in err and "analytics are unchanged" in err
    code, out, _ = await _cli(db, "clicks", "export")
    assert len(list(csv.DictReader(io.StringIO(out)))) == 2
    code, out, _ = await _cli(db, "links", "export", "--format", "json")
    assert json.loads(out)[0]["clicks"] == 3  # the counter keeps every click
