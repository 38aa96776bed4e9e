"""`serve` start-up checks and the settings it hands to worker processes."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.http.serve import ServeError, check_settings, run_server, settings_env
from clypt_mcp.store.base import VISITOR_SECRET_BYTES
from clypt_mcp.store.rows import migrations
from tests.http.live import free_port


def test_settings_survive_the_trip_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'clypt.db'}",
        base_url="https://clypt.example",
        trusted_proxies="10.0.0.0/8, 127.0.0.1",
        scopes="links:read,analytics:read",
        rate_limit="50/second",
    )
    env = settings_env(settings)
    for name in list(env):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings


def test_serve_refuses_remote_mode(tmp_path: Path) -> None:
    remote = Settings(api_url="https://clypt.example", api_key="clypt_x")
    with pytest.raises(ServeError, match=r"^CLYPT_API_URL: "):
        check_settings(remote)


def test_serve_refuses_a_postgresql_server_it_cannot_reach_with_one_line() -> None:
    url = f"postgresql://clypt:hunter2@127.0.0.1:{free_port()}/clypt"
    with pytest.raises(ServeError, match=r"^CLYPT_DATABASE_URL: could not connect") as caught:
        check_settings(Settings(database_url=url))
    message = str(caught.value)
    assert "\n" not in message and "hunter2" not in message


def test_serve_prepares_a_postgresql_store_before_it_starts(pg_url: str) -> None:
    check_settings(Settings(database_url=pg_url))
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        secret = conn.execute("SELECT value FROM secrets WHERE name = 'visitor'").fetchone()
    assert version is not None and version[0] == migrations("postgres")[-1][0]
    assert secret is not None and len(secret[0]) == VISITOR_SECRET_BYTES


def test_serve_refuses_a_sqlite_file_it_cannot_make_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'file' / 'clypt.db'}")
    with pytest.raises(ServeError, match=r"^CLYPT_DATABASE_URL: ") as caught:
        check_settings(settings)
    assert "\n" not in str(caught.value)


def test_serve_refuses_an_unreadable_geoip_file_before_it_starts(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'clypt.db'}", geoip_db=tmp_path / "missing.mmdb"
    )
    with pytest.raises(ServeError, match=r"^CLYPT_GEOIP_DB: cannot read"):
        run_server(settings, port=0)


def test_serve_makes_the_store_and_keeps_the_visitor_secret_in_it(tmp_path: Path) -> None:
    check_settings(Settings(database_url=f"sqlite:///{tmp_path / 'clypt.db'}"))
    assert (tmp_path / "clypt.db").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "clypt.db.visitor-key").exists()
    with closing(sqlite3.connect(tmp_path / "clypt.db")) as db:
        rows = db.execute("SELECT value FROM secrets WHERE name = 'visitor'").fetchall()
    assert len(rows) == 1 and len(rows[0][0]) == VISITOR_SECRET_BYTES


def test_serve_adopts_the_visitor_key_file_of_an_earlier_version(tmp_path: Path) -> None:
    legacy = bytes(range(32, 64))
    (tmp_path / "clypt.db.visitor-key").write_text(legacy.hex())
    check_settings(Settings(database_url=f"sqlite:///{tmp_path / 'clypt.db'}"))
    with closing(sqlite3.connect(tmp_path / "clypt.db")) as db:
        rows = db.execute("SELECT value FROM secrets WHERE name = 'visitor'").fetchall()
    assert rows == [(legacy,)]


def test_serve_reports_a_damaged_visitor_key_file_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "clypt.db.visitor-key").write_text("garbage")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'clypt.db'}")
    with pytest.raises(ServeError, match=r"^CLYPT_DATABASE_URL: .*does not hold a visitor"):
        check_settings(settings)


@pytest.mark.parametrize(("workers", "port"), [(0, 8080), (65, 8080), (1, 70000)])
def test_serve_rejects_impossible_flags(workers: int, port: int) -> None:
    with pytest.raises(ServeError, match=r"^--(workers|port) "):
        run_server(Settings(), port=port, workers=workers)
