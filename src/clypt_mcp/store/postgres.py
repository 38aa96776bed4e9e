"""PostgresStore: the Store on a PostgreSQL server, shared by any number of processes and
machines (extra `clypt-mcp[postgres]`: psycopg 3 and psycopg-pool, imported when opened).

Exactness lives in the database: unique indexes decide codes, tag and folder names and
idempotency keys; `max_clicks` is one conditional UPDATE; key limits and migrations take locks.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import anyio

from clypt_mcp.errors import ClyptError, ConflictError, UnavailableError
from clypt_mcp.store import postgres_clicks as clicks_sql
from clypt_mcp.store import postgres_links as links_sql
from clypt_mcp.store.base import (
    SLOT,
    TABLES,
    VISITOR_SECRET_BYTES,
    ClickStats,
    FolderRecord,
    KeyRecord,
    LinkFilter,
    LinkRecord,
    TagRecord,
    from_us,
    table_spec,
    to_us,
)
from clypt_mcp.store.postgres_sql import fetchall, fetchone, is_unique_violation, rowcount, scalar
from clypt_mcp.store.rows import from_us_req, migrations

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import TupleRow
    from psycopg_pool import AsyncConnectionPool

    from clypt_mcp.models import ClickEvent, LinkSort
    from clypt_mcp.store.postgres_sql import Conn

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPTS = 5
CONNECT_TIMEOUT = 10  # seconds to connect, and to wait for a pooled connection
# pg_advisory_xact_lock keys: one for migrations, one family for per-workspace key limits.
MIGRATION_LOCK = 0x636C797074_01
_KEYS_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('clypt.keys:' || %s, 0))"


class PostgresStore:
    """The Store on PostgreSQL through a psycopg async connection pool.

    Statements run in autocommit; multi-statement writes run in one transaction. Lost
    connections, pool timeouts, deadlocks and serialization failures are retried a few times,
    then become UnavailableError; other database errors become a generic ClyptError (logged),
    so SQL text never reaches a user.
    """

    shared = True  # several processes and machines use one database

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, attempts: int = ATTEMPTS
    ) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.attempts = attempts
        self._types: dict[str, list[int]] = {}  # table -> column type oids, for binary COPY
        self._pool: AsyncConnectionPool[AsyncConnection[TupleRow]] | None = None

    # --- plumbing ---------------------------------------------------------------------

    @property
    def where(self) -> str:
        """host:port/database of the URL, without credentials (for messages)."""
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        return f"{host}:{parts.port or 5432}{parts.path or '/'}"

    async def open(self) -> None:
        try:
            import psycopg
            from psycopg_pool import AsyncConnectionPool
        except ImportError as exc:
            raise UnavailableError(
                "PostgreSQL support is not installed — pip install 'clypt-mcp[postgres]'"
            ) from exc
        conn = await self._connect(psycopg.AsyncConnection)
        try:
            await self._migrate(conn)
        except psycopg.Error as exc:
            raise UnavailableError("applying PostgreSQL migrations failed — see the log") from exc
        finally:
            await conn.close()
        pool: AsyncConnectionPool[AsyncConnection[TupleRow]] = AsyncConnectionPool(
            self.url,
            min_size=self.min_size,
            max_size=self.max_size,
            kwargs={"autocommit": True},
            timeout=CONNECT_TIMEOUT,
            open=False,
            name="clypt",
        )
        await pool.open()
        self._pool = pool

    async def _connect(
        self, connection: type[AsyncConnection[TupleRow]]
    ) -> AsyncConnection[TupleRow]:
        import psycopg

        delay = 0.2
        for attempt in range(self.attempts):
            try:
                return await connection.connect(self.url, connect_timeout=CONNECT_TIMEOUT)
            except psycopg.OperationalError as exc:
                log.warning("connecting to PostgreSQL at %s failed: %s", self.where, exc)
                if attempt == self.attempts - 1:
                    raise UnavailableError(
                        f"could not connect to PostgreSQL at {self.where} — check that it is "
                        "running and that the URL's user, password and database are right"
                    ) from exc
            await anyio.sleep(delay)
            delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    async def _migrate(self, conn: Conn) -> None:
        """Apply pending migrations in one transaction; the advisory lock makes processes that
        start together take turns, so each migration is applied once."""
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at BIGINT)"
            )
            current = await scalar(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_version")
            for version, script in migrations("postgres"):
                if version <= current:
                    continue
                await conn.execute(script)  # no parameters: several statements may run
                await conn.execute(
                    "INSERT INTO schema_version VALUES (%s, %s)", (version, int(time.time() * 1e6))
                )
                log.info("applied PostgreSQL migration %04d", version)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[TupleRow]]:
        if self._pool is None:
            raise UnavailableError("the store is not open")
        return self._pool

    async def _run(self, fn: Callable[[Conn], Awaitable[T]], write: bool = False) -> T:
        """Run `fn` on a pooled connection (in a transaction when `write`), with bounded
        retries of failures that leave nothing behind."""
        import psycopg
        from psycopg_pool import PoolTimeout

        delay = 0.05
        for attempt in range(self.attempts):
            try:
                async with self.pool.connection() as conn:
                    if not write:
                        return await fn(conn)
                    async with conn.transaction():
                        return await fn(conn)
            except PoolTimeout as exc:  # already waited CONNECT_TIMEOUT for a connection
                raise UnavailableError("the database is unreachable or overloaded") from exc
            except psycopg.OperationalError as exc:
                log.warning("PostgreSQL operation failed (attempt %d): %s", attempt + 1, exc)
                if attempt == self.attempts - 1:
                    raise UnavailableError(
                        "the database stayed unreachable or busy — try again shortly"
                    ) from exc
            except psycopg.Error as exc:
                log.exception("PostgreSQL refused an operation")
                raise ClyptError("the database refused the operation — see the server log") from exc
            await anyio.sleep(delay)
            delay = min(delay * 3, 1.0)
        raise AssertionError("unreachable")

    async def _tx(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        return await self._run(fn, write=True)

    # --- whole store ------------------------------------------------------------------

    async def count_links(self) -> int:
        return int(await self._run(lambda c: scalar(c, "SELECT COUNT(*) FROM links")))

    async def schema_version(self) -> int:
        return int(await self._run(lambda c: scalar(c, "SELECT MAX(version) FROM schema_version")))

    async def count_rows(self, table: str) -> int:
        table_spec(table)
        return int(await self._run(lambda c: scalar(c, f"SELECT COUNT(*) FROM {table}")))

    async def dump_table(
        self, table: str, after: tuple[Any, ...] | None, limit: int
    ) -> list[tuple[Any, ...]]:
        columns, key = table_spec(table)
        sql = f"SELECT {', '.join(columns)} FROM {table}"
        args: list[Any] = []
        if after is not None:
            sql += f" WHERE ({', '.join(key)}) > ({', '.join(['%s'] * len(key))})"
            args.extend(after)
        sql += f" ORDER BY {', '.join(key)} LIMIT %s"
        return await self._run(lambda c: fetchall(c, sql, [*args, limit]))

    async def load_rows(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        columns, _ = table_spec(table)
        names = ", ".join(columns)

        async def job(conn: Conn) -> None:
            try:
                async with conn.cursor() as cur:
                    if table not in self._types:
                        await cur.execute(f"SELECT {names} FROM {table} LIMIT 0")
                        self._types[table] = [c.type_code for c in cur.description or ()]
                    async with cur.copy(
                        f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)"
                    ) as copy:
                        copy.set_types(self._types[table])
                        for row in rows:
                            await copy.write_row(row)
            except Exception as exc:
                if is_unique_violation(exc):
                    raise ConflictError(f"{table}: a copied row is already there") from exc
                raise
            if table == "clicks":  # new clicks continue after the copied ids
                await conn.execute(
                    "SELECT setval(pg_get_serial_sequence('clicks', 'id'), "
                    "GREATEST((SELECT MAX(id) FROM clicks), 1))"
                )

        await self._tx(job)

    async def clear_all(self) -> None:
        await self._run(lambda c: c.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))

    # --- workspaces -------------------------------------------------------------------

    async def ensure_workspace(self, workspace_id: str, now: datetime) -> None:
        await self._run(
            lambda c: c.execute(
                "INSERT INTO workspaces (id, created_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (workspace_id, to_us(now)),
            )
        )

    # --- links ------------------------------------------------------------------------

    async def insert_link(
        self,
        record: LinkRecord,
        tags: list[str],
        idempotency: tuple[str, str, str] | None = None,
        folder_names: list[str] | None = None,
    ) -> None:
        await self._tx(lambda c: links_sql.insert_link(c, record, tags, idempotency, folder_names))

    async def get_link(
        self, workspace_id: str | None, *, link_id: str | None = None, code: str | None = None
    ) -> LinkRecord | None:
        return await self._run(lambda c: links_sql.get_link(c, workspace_id, link_id, code))

    async def update_link(
        self,
        workspace_id: str,
        link_id: str,
        changes: dict[str, Any],
        tags: list[str] | None,
        folder_names: list[str] | None = None,
    ) -> None:
        links_sql.check_columns(changes)
        now_us = to_us(changes.get("updated_at")) or int(time.time() * 1_000_000)
        await self._tx(
            lambda c: links_sql.update_link(
                c, workspace_id, link_id, changes, tags, folder_names, now_us
            )
        )

    async def delete_link(self, workspace_id: str, link_id: str) -> bool:
        return await self._tx(lambda c: links_sql.delete_link(c, workspace_id, link_id))

    async def list_links(
        self,
        flt: LinkFilter,
        sort: LinkSort,
        limit: int,
        after: tuple[Any, str] | None,
        now: datetime,
    ) -> tuple[list[LinkRecord], int]:
        return await self._run(lambda c: links_sql.list_links(c, flt, sort, limit, after, now))

    async def get_idempotent(self, workspace_id: str, key: str) -> tuple[str, str] | None:
        row = await self._run(
            lambda c: fetchone(
                c,
                "SELECT request_hash, response FROM idempotency "
                "WHERE workspace_id = %s AND key = %s",
                (workspace_id, key),
            )
        )
        return (row[0], row[1]) if row else None

    async def put_idempotent(
        self, workspace_id: str, key: str, request_hash: str, response: str, now: datetime
    ) -> bool:
        added = await self._run(
            lambda c: rowcount(
                c,
                "INSERT INTO idempotency VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (workspace_id, key, request_hash, response, to_us(now)),
            )
        )
        return added > 0

    # --- tags -------------------------------------------------------------------------

    async def list_tags(self, workspace_id: str) -> list[TagRecord]:
        return await self._run(lambda c: links_sql.list_tags(c, workspace_id))

    async def create_tag(self, workspace_id: str, record: TagRecord) -> None:
        await self._run(lambda c: links_sql.create_tag(c, workspace_id, record))

    async def update_tag(
        self, workspace_id: str, tag_id: str, name: str, color: str | None
    ) -> None:
        await self._run(lambda c: links_sql.update_tag(c, workspace_id, tag_id, name, color))

    async def delete_tag(self, workspace_id: str, tag_id: str) -> bool:
        deleted = await self._run(
            lambda c: rowcount(
                c, "DELETE FROM tags WHERE id = %s AND workspace_id = %s", (tag_id, workspace_id)
            )
        )
        return deleted > 0

    # --- folders ----------------------------------------------------------------------

    async def list_folders(self, workspace_id: str) -> list[FolderRecord]:
        return await self._run(lambda c: links_sql.list_folders(c, workspace_id))

    async def create_folder(self, workspace_id: str, record: FolderRecord) -> None:
        await self._run(lambda c: links_sql.create_folder(c, workspace_id, record))

    async def ensure_folder_path(self, workspace_id: str, names: list[str], now: datetime) -> str:
        return await self._tx(
            lambda c: links_sql.ensure_path(c, workspace_id, names, to_us(now) or 0)
        )

    async def update_folder(
        self, workspace_id: str, folder_id: str, name: str, parent_id: str | None
    ) -> None:
        await self._run(
            lambda c: links_sql.update_folder(c, workspace_id, folder_id, name, parent_id)
        )

    async def delete_folder(self, workspace_id: str, folder_id: str) -> bool:
        return await self._tx(lambda c: links_sql.delete_folder(c, workspace_id, folder_id))

    # --- clicks -----------------------------------------------------------------------

    async def record_clicks(self, events: list[ClickEvent]) -> None:
        if events:
            await self._tx(lambda c: clicks_sql.record_clicks(c, events))

    async def click_page(
        self,
        workspace_id: str,
        link_id: str | None,
        since: int | None,
        after: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        return await self._run(
            lambda c: clicks_sql.click_page(c, workspace_id, link_id, since, after, limit)
        )

    async def count_clicks(self, workspace_id: str, link_id: str | None, since: int | None) -> int:
        return await self._run(lambda c: clicks_sql.count_clicks(c, workspace_id, link_id, since))

    async def purge_clicks(self, before: int, limit: int) -> int:
        return await self._tx(lambda c: clicks_sql.purge_clicks(c, before, limit))

    async def purge_idempotency(self, before: int, limit: int) -> int:
        return await self._tx(
            lambda c: rowcount(
                c,
                """DELETE FROM idempotency WHERE ctid IN
                    (SELECT ctid FROM idempotency WHERE created_at < %s LIMIT %s)""",
                (before, limit),
            )
        )

    async def purge_request_counts(self, before: int) -> int:
        return await self._tx(
            lambda c: rowcount(c, "DELETE FROM rate_limits WHERE window_start < %s", (before,))
        )

    async def count_redirect(self, link_id: str, now: datetime) -> bool:
        counted = await self._run(
            lambda c: rowcount(
                c,
                """UPDATE links SET redirects = redirects + 1
                    WHERE id = %s AND (max_clicks IS NULL OR redirects < max_clicks)""",
                (link_id,),
            )
        )
        return counted > 0

    async def click_stats(
        self,
        flt: LinkFilter,
        start: int,
        end: int,
        include_bots: bool,
        top: int,
        unit: int = SLOT,
        want_first: bool = False,
    ) -> ClickStats:
        return await self._run(
            lambda c: clicks_sql.click_stats(
                c, flt, (start, end), include_bots, top, unit, want_first
            )
        )

    # --- api keys ---------------------------------------------------------------------

    async def insert_key(self, record: KeyRecord, key_hash: str, max_active: int) -> bool:
        async def job(conn: Conn) -> bool:
            # One creator per workspace at a time, so the count below stays true.
            await conn.execute(_KEYS_LOCK, (record.workspace_id,))
            now = to_us(record.created_at)
            active = await scalar(
                conn,
                """SELECT COUNT(*) FROM api_keys WHERE workspace_id = %s AND revoked_at IS NULL
                       AND (expires_at IS NULL OR expires_at > %s)""",
                (record.workspace_id, now),
            )
            if active >= max_active:
                return False
            await conn.execute(
                "INSERT INTO api_keys VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL, NULL)",
                (
                    record.id,
                    record.workspace_id,
                    record.name,
                    record.prefix,
                    key_hash,
                    ",".join(record.scopes),
                    now,
                    to_us(record.expires_at),
                ),
            )
            return True

        return await self._tx(job)

    async def list_keys(self, workspace_id: str | None) -> list[KeyRecord]:
        sql = f"SELECT {_KEY_COLUMNS} FROM api_keys"
        args: tuple[Any, ...] = ()
        if workspace_id is not None:
            sql += " WHERE workspace_id = %s"
            args = (workspace_id,)
        rows = await self._run(lambda c: fetchall(c, sql + " ORDER BY created_at, id", args))
        return [_key_record(r) for r in rows]

    async def find_key(self, key_hash: str) -> KeyRecord | None:
        row = await self._run(
            lambda c: fetchone(
                c, f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE hash = %s", (key_hash,)
            )
        )
        return _key_record(row) if row else None

    async def revoke_key(self, workspace_id: str | None, key_id: str, now: datetime) -> bool:
        sql = "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL"
        args: list[Any] = [to_us(now), key_id]
        if workspace_id is not None:
            sql += " AND workspace_id = %s"
            args.append(workspace_id)
        return await self._run(lambda c: rowcount(c, sql, args)) > 0

    async def touch_key(self, key_id: str, now: datetime) -> None:
        await self._run(
            lambda c: c.execute(
                "UPDATE api_keys SET last_used_at = %s WHERE id = %s", (to_us(now), key_id)
            )
        )

    # --- shared state -----------------------------------------------------------------

    async def visitor_secret(self) -> bytes:
        async def job(conn: Conn) -> bytes:
            # Autocommit: the insert (a no-op when a secret is there) commits before the read.
            await conn.execute(
                """INSERT INTO secrets (name, value, created_at) VALUES ('visitor', %s, %s)
                   ON CONFLICT (name) DO NOTHING""",
                (secrets.token_bytes(VISITOR_SECRET_BYTES), int(time.time() * 1e6)),
            )
            return bytes(await scalar(conn, "SELECT value FROM secrets WHERE name = 'visitor'"))

        return await self._run(job)

    async def set_visitor_secret(self, secret: bytes) -> None:
        await self._run(
            lambda c: c.execute(
                """INSERT INTO secrets (name, value, created_at) VALUES ('visitor', %s, %s)
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
                (secret, int(time.time() * 1e6)),
            ),
            write=True,
        )

    async def count_request(self, key: str, window_start: int, limit: int) -> int | None:
        if limit < 1:
            return None
        args = {"key": key, "start": window_start, "limit": limit}
        count = await self._run(lambda c: scalar(c, _COUNT_REQUEST, args))
        return None if count is None else int(count)

    async def request_count(self, key: str, window_start: int) -> int:
        count = await self._run(
            lambda c: scalar(
                c,
                "SELECT count FROM rate_limits WHERE key = %s AND window_start = %s",
                (key, window_start),
            )
        )
        return 0 if count is None else int(count)


# One round trip: count the request unless the window is full; when it opens a new window,
# delete the key's older ones (the DELETE sees the table as it was before the insert).
_COUNT_REQUEST = """
WITH hit AS (
    INSERT INTO rate_limits AS r (key, window_start, count) VALUES (%(key)s, %(start)s, 1)
    ON CONFLICT (key, window_start) DO UPDATE SET count = r.count + 1 WHERE r.count < %(limit)s
    RETURNING r.count
), pruned AS (
    DELETE FROM rate_limits
     WHERE key = %(key)s AND window_start < %(start)s
       AND EXISTS (SELECT 1 FROM hit WHERE hit.count = 1)
)
SELECT count FROM hit"""

_KEY_FIELDS = TABLES["api_keys"][0]
_KEY_COLUMNS = ", ".join(_KEY_FIELDS)


def _key_record(row: tuple[Any, ...]) -> KeyRecord:
    r = dict(zip(_KEY_FIELDS, row, strict=True))
    return KeyRecord(
        id=r["id"],
        workspace_id=r["workspace_id"],
        name=r["name"],
        prefix=r["prefix"],
        scopes=[s for s in r["scopes"].split(",") if s],
        created_at=from_us_req(r["created_at"]),
        expires_at=from_us(r["expires_at"]),
        revoked_at=from_us(r["revoked_at"]),
        last_used_at=from_us(r["last_used_at"]),
    )
