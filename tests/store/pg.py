"""PostgreSQL for tests: a database per test session on the server CLYPT_TEST_DATABASE_URL
names (`eval "$(scripts/postgres)"` starts one), and a fresh schema in it per store."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from clypt_mcp.store.base import TABLES

if TYPE_CHECKING:
    import psycopg

ENV = "CLYPT_TEST_DATABASE_URL"
SHARED_STATE = ("secrets", "rate_limits")  # not copied between stores, but emptied here too


def database_url() -> str | None:
    """The test server's URL, or None when PostgreSQL tests are not wanted."""
    return os.environ.get(ENV) or None


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def with_schema(url: str, schema: str) -> str:
    """`url` whose connections use `schema` (libpq's `options`)."""
    joiner = "&" if urlsplit(url).query else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


class PgServer:
    """A throwaway database for one test session, where each store gets a schema of its own.

    `schema()` makes a new, empty schema. `lease()` hands out a migrated schema whose tables a
    previous test emptied on `release()`: deleting a few rows is much faster than creating
    the tables again. Dropping the database at the end drops every schema at once.
    """

    def __init__(self, url: str) -> None:
        import psycopg

        self.admin_url = url
        self.name = f"clypt_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {self.name}")
        self.url = with_database(url, self.name)
        self._conn: psycopg.Connection[tuple[object, ...]] = psycopg.connect(
            self.url, autocommit=True
        )
        self._free: list[str] = []

    def schema(self) -> str:
        """A URL on a new, empty schema."""
        return with_schema(self.url, self._new())

    def _new(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        self._conn.execute(f"CREATE SCHEMA {name}")
        return name

    def lease(self) -> str:
        """A schema name: an emptied one when there is one (already migrated), else a new one."""
        return self._free.pop() if self._free else self._new()

    def url_for(self, schema: str) -> str:
        return with_schema(self.url, schema)

    def release(self, schema: str) -> None:
        """Empty a leased schema's tables for the next test (drop it when that fails)."""
        import psycopg

        tables = [*reversed(TABLES), *SHARED_STATE]
        wipe = "".join(f"DELETE FROM {schema}.{table};" for table in tables)
        try:
            self._conn.execute(
                f"{wipe} ALTER TABLE {schema}.clicks ALTER COLUMN id RESTART".encode()
            )
        except psycopg.Error:
            self._conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            return
        self._free.append(schema)

    def close(self) -> None:
        import psycopg

        self._conn.close()
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
