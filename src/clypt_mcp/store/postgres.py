"""PostgresStore: the Store on a PostgreSQL server, shared by any number of processes and
machines (extra `clypt-mcp[postgres]`: psycopg 3 and psycopg-pool, imported when opened).

Exactness lives in the database: unique indexes decide codes, tag and folder names and
idempotency keys; `max_clicks` is one conditional UPDATE; key limits and migrations take locks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

from clypt_mcp.errors import ClyptError, ConflictError, UnavailableError
from clypt_mcp.store.base import IDENTITY_COLUMNS, TABLES, table_spec
from clypt_mcp.store.sql import POSTGRES, Dialect, Q, migrate
from clypt_mcp.store.tables import SqlStore

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import TupleRow
    from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPTS = 5
CONNECT_TIMEOUT = 10  # seconds to connect, and to wait for a pooled connection
# pg_advisory_xact_lock keys: one for migrations, one family for per-workspace key limits.
MIGRATION_LOCK = 0x636C797074_01


class PostgresDb:
    """The seam on a PostgreSQL server: a psycopg connection pool. Statements run in
    autocommit; a write job runs in one transaction. Lost connections, pool timeouts, deadlocks
    and serialization failures are retried a few times, then become UnavailableError; other
    database errors become a generic ClyptError (logged), so SQL text never reaches a user."""

    dialect: Dialect = POSTGRES

    def __init__(self, url: str, min_size: int, max_size: int, attempts: int) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.attempts = attempts
        self.pool: ConnectionPool[Connection[TupleRow]] | None = None

    @property
    def where(self) -> str:
        """host:port/database of the URL, without credentials (for messages)."""
        parts = urlsplit(self.url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"

    async def open(self) -> None:
        await anyio.to_thread.run_sync(self._open_sync)

    def _open_sync(self) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise UnavailableError(
                "PostgreSQL support is not installed — pip install 'clypt-mcp[postgres]'"
            ) from exc
        conn = self._connect()
        try:
            with conn.transaction():
                self._migrate(Q(conn.cursor(), POSTGRES))
        except psycopg.Error as exc:
            raise UnavailableError("applying PostgreSQL migrations failed — see the log") from exc
        finally:
            conn.close()
        pool: ConnectionPool[Connection[TupleRow]] = ConnectionPool(
            self.url,
            min_size=self.min_size,
            max_size=self.max_size,
            kwargs={"autocommit": True},
            timeout=CONNECT_TIMEOUT,
            open=False,
            name="clypt",
        )
        pool.open()
        self.pool = pool

    def _connect(self) -> Connection[TupleRow]:
        import psycopg

        delay = 0.2
        for attempt in range(self.attempts):
            try:
                return psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT, autocommit=True)
            except psycopg.OperationalError as exc:
                log.warning("connecting to PostgreSQL at %s failed: %s", self.where, exc)
                if attempt == self.attempts - 1:
                    raise UnavailableError(
                        f"could not connect to PostgreSQL at {self.where} — check that it is "
                        "running and that the URL's user, password and database are right"
                    ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _migrate(self, q: Q) -> None:
        """Apply pending migrations in one transaction; the advisory lock makes processes that
        start together take turns, so each migration is applied once."""
        q.run("SELECT pg_advisory_xact_lock(:lock)", {"lock": MIGRATION_LOCK})
        migrate(q, lambda script: q.cur.execute(script))  # several statements each

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await anyio.to_thread.run_sync(pool.close)

    async def run(self, fn: Callable[[Q], T], write: bool = False) -> T:
        """Run the job in a worker thread. A caller that stops waiting (a deadline, a closed
        request) is not held until the database answers: the thread is left to finish, and a
        write it has not committed yet is rolled back instead (`cancelled`)."""
        cancelled = threading.Event()
        try:
            return await anyio.to_thread.run_sync(
                self._job, fn, write, cancelled, abandon_on_cancel=True
            )
        except BaseException:
            cancelled.set()
            raise

    def _job(
        self, fn: Callable[[Q], T], write: bool, cancelled: threading.Event | None = None
    ) -> T:
        """Run `fn` on a pooled connection (in a transaction when `write`), with bounded
        retries of failures that leave nothing behind."""
        import psycopg
        from psycopg_pool import PoolTimeout

        if self.pool is None:
            raise UnavailableError("the store is not open")
        delay = 0.05
        for attempt in range(self.attempts):
            if cancelled is not None and cancelled.is_set():
                raise UnavailableError("the caller stopped waiting for the database")
            try:
                with self.pool.connection() as conn:
                    if not write:
                        return fn(Q(conn.cursor(), POSTGRES))
                    with conn.transaction():
                        out = fn(Q(conn.cursor(), POSTGRES))
                        if cancelled is not None and cancelled.is_set():
                            # nobody will hear of this write: roll it back, not commit it
                            raise UnavailableError("the caller stopped waiting for the database")
                        return out
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
            time.sleep(delay)
            delay = min(delay * 3, 1.0)
        raise AssertionError("unreachable")


class PostgresStore(SqlStore):
    """The Store on PostgreSQL."""

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, attempts: int = ATTEMPTS
    ) -> None:
        self.url = url
        self._pg = PostgresDb(url, min_size, max_size, attempts)
        self._types: dict[str, list[int]] = {}  # table -> column type oids, for binary COPY
        super().__init__(self._pg)

    @property
    def where(self) -> str:
        return self._pg.where

    @property
    def pool(self) -> ConnectionPool[Connection[TupleRow]]:
        if self._pg.pool is None:
            raise UnavailableError("the store is not open")
        return self._pg.pool

    async def _run(self, fn: Callable[[Q], T], write: bool = False) -> T:
        return await self._pg.run(fn, write)

    def _lock_keys(self, q: Q, workspace_id: str) -> None:
        q.run(
            "SELECT pg_advisory_xact_lock(hashtextextended('clypt.keys:' || :ws, 0))",
            {"ws": workspace_id},
        )

    async def load_rows(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Rows in by binary COPY, many times faster than inserts for a large copy."""
        columns, _ = table_spec(table)
        names = ", ".join(columns)

        def job(q: Q) -> None:
            cur: Any = q.cur
            try:
                if table not in self._types:
                    cur.execute(f"SELECT {names} FROM {table} LIMIT 0")
                    self._types[table] = [c.type_code for c in cur.description or ()]
                with cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(self._types[table])
                    for row in rows:
                        copy.write_row(row)
            except Exception as exc:
                if q.d.is_unique_violation(exc):
                    raise ConflictError(f"{table}: a copied row is already there") from exc
                raise
            column = IDENTITY_COLUMNS.get(table)
            if column is not None:  # new rows continue after the copied ids
                q.run(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"GREATEST((SELECT MAX({column}) FROM {table}), 1))"
                )

        await self._write(job)

    async def clear_all(self) -> None:
        await self._read(
            lambda q: q.run(f"TRUNCATE {', '.join(TABLES)}, set_days RESTART IDENTITY")
        )
