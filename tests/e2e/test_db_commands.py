"""`clypt-mcp db backup|restore|migrate` on real files."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import anyio
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import LinkCreate, Principal
from clypt_mcp.store.rows import migrations
from clypt_mcp.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


async def _cli(db: Path, *args: str) -> tuple[int, str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(db.parent),
           "CLYPT_DATABASE_URL": f"sqlite:///{db}"}  # fmt: skip
    done = await anyio.run_process([sys.executable, "-m", "clypt_mcp", *args], env=env, check=False)
    return done.returncode, done.stderr.decode()


async def _rows(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, code, url FROM links ORDER BY id").fetchall()


async def test_backup_then_restore_into_a_fresh_directory_gives_the_same_links(
    tmp_path: Path,
) -> None:
    live = tmp_path / "live" / "clypt.db"
    store = SqliteStore(live)
    await store.open()
    service = ClyptService(store)
    for i in range(25):
        await service.create_link(
            Principal(workspace_id="default"), LinkCreate(url=f"https://e.com/{i}", tags=["t"])
        )
    # the live store stays open while the backup runs
    backup = tmp_path / "backups" / "clypt-backup.db"
    code, err = await _cli(live, "db", "backup", str(backup))
    await store.close()
    assert code == 0, err
    assert (backup.stat().st_mode & 0o777) == 0o600

    fresh = tmp_path / "fresh" / "clypt.db"
    code, err = await _cli(fresh, "db", "restore", str(backup))
    assert code == 0, err
    assert await _rows(fresh) == await _rows(live)
    with sqlite3.connect(fresh) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM link_tags").fetchone() == (25,)

    code, err = await _cli(fresh, "db", "restore", str(backup))
    assert code == 2 and "--force" in err
    code, err = await _cli(fresh, "db", "restore", str(backup), "--force")
    assert code == 0, err


async def test_migrate_reports_the_schema_version(tmp_path: Path) -> None:
    latest = migrations("sqlite")[-1][0]
    code, err = await _cli(tmp_path / "clypt.db", "db", "migrate")
    assert code == 0 and f"schema version {latest}" in err


async def test_migrate_names_links_whose_codes_became_reserved(tmp_path: Path) -> None:
    db = tmp_path / "clypt.db"
    store = SqliteStore(db)
    await store.open()
    service = ClyptService(store)
    for name in ("tokens", "launch"):
        await service.create_link(
            Principal(workspace_id="default"), LinkCreate(url="https://e.com/", code=name)
        )
    await store.close()
    with sqlite3.connect(db) as conn:  # made before `token` was reserved
        conn.execute("UPDATE links SET code = 'Token' WHERE code = 'tokens'")
    code, err = await _cli(db, "db", "migrate")
    assert code == 0, err
    assert "link 'Token' in workspace 'default'" in err and "launch" not in err


async def test_db_copy_into_another_store_and_refusal_of_a_full_one(tmp_path: Path) -> None:
    live = tmp_path / "a" / "clypt.db"
    store = SqliteStore(live)
    await store.open()
    service = ClyptService(store)
    for i in range(12):
        await service.create_link(
            Principal(workspace_id="default"), LinkCreate(url=f"https://e.com/{i}")
        )
    await store.close()
    target = tmp_path / "b" / "copy.db"
    code, err = await _cli(live, "db", "copy", "--to", f"sqlite:///{target}")
    assert code == 0, err
    assert "12 links" in err
    assert await _rows(target) == await _rows(live)
    code, err = await _cli(live, "db", "copy", "--to", f"sqlite:///{target}")
    assert code != 0 and "already holds data" in err and "Traceback" not in err
    code, err = await _cli(live, "db", "copy", "--to", f"sqlite:///{target}", "--force")
    assert code == 0, err
