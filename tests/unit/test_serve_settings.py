"""`serve` start-up checks and the settings it hands to worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from clypt_mcp.config import Settings
from clypt_mcp.http.serve import ServeError, check_settings, run_server, settings_env


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


def test_serve_refuses_remote_mode_and_other_databases(tmp_path: Path) -> None:
    remote = Settings(api_url="https://clypt.example", api_key="clypt_x")
    with pytest.raises(ServeError, match=r"^CLYPT_API_URL: "):
        check_settings(remote)
    postgres = Settings(database_url="postgresql://u@h/db")
    with pytest.raises(ServeError, match=r"^CLYPT_DATABASE_URL: "):
        check_settings(postgres)


def test_serve_refuses_an_unreadable_geoip_file_before_it_starts(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'clypt.db'}", geoip_db=tmp_path / "missing.mmdb"
    )
    with pytest.raises(ServeError, match=r"^CLYPT_GEOIP_DB: cannot read"):
        run_server(settings, port=0)


def test_serve_makes_the_visitor_key_next_to_the_database(tmp_path: Path) -> None:
    check_settings(Settings(database_url=f"sqlite:///{tmp_path / 'clypt.db'}"))
    assert (tmp_path / "clypt.db.visitor-key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("workers", "port"), [(0, 8080), (65, 8080), (1, 70000)])
def test_serve_rejects_impossible_flags(workers: int, port: int) -> None:
    with pytest.raises(ServeError, match=r"^--(workers|port) "):
        run_server(Settings(), port=port, workers=workers)
