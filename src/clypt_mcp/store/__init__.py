"""Storage: the Store protocol and its SQLite and PostgreSQL implementations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clypt_mcp.store.base import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(database_url: str | None) -> bool:
    """True for a `postgresql://` or `postgres://` URL."""
    return database_url is not None and database_url.lower().startswith(POSTGRES_SCHEMES)


def open_store(database_url: str | None, sqlite_path: Path | str) -> Store:
    """The store a database URL names, not yet opened (call `await store.open()`).

    A `postgresql://` or `postgres://` URL gives a PostgresStore (psycopg is imported when it
    opens); anything else gives a SqliteStore on `sqlite_path`, which the caller derives from a
    `sqlite:///…` URL or the default data dir.
    """
    if is_postgres_url(database_url):
        from clypt_mcp.store.postgres import PostgresStore

        assert database_url is not None
        return PostgresStore(database_url)
    from clypt_mcp.store.sqlite import SqliteStore

    return SqliteStore(sqlite_path)
