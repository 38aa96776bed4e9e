"""The one SQL layer both stores run on: queries are written once, with `:name` parameters,
and run through a `Db` (the seam that owns connections, transactions and retries) as plain
functions of a `Q`, the handle on one connection (in one transaction for writes).

Everything the two databases spell differently lives in `Dialect`: placeholders, `IN` lists
against `= ANY(array)`, case-folded comparison and ordering, `LIKE` without case, the scalar
maximum, row locks, the physical row id, unique-violation errors, many-row `RETURNING`, and
the per-set day cache's fill lock.
Migrations stay per dialect (`sql/sqlite`, `sql/postgres`).

Jobs are synchronous and run in a worker thread (one hop per store call, as SQLite always
did); psycopg's blocking API is used for PostgreSQL, so each job holds one pooled connection.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from clypt_mcp.errors import ClyptError

log = logging.getLogger(__name__)
T = TypeVar("T")
Args = dict[str, Any] | Sequence[Any] | None

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Cursor(Protocol):
    """What both drivers' cursors offer (sqlite3's and psycopg's blocking one)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...
    def executemany(self, sql: Any, params: Any, /) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


def migrate(q: Q, run_script: Callable[[str], object]) -> None:
    """Apply the dialect's pending migrations (`sql/<dialect>/NNNN_*.sql`), in the caller's
    transaction; `run_script` runs one file's statements."""
    from clypt_mcp.store.rows import migrations

    q.run(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT)"
    )
    current = q.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
    for version, script in migrations(q.d.name):
        if version <= current:
            continue
        run_script(script)
        q.run("INSERT INTO schema_version VALUES (?, ?)", (version, int(time.time() * 1e6)))
        log.info("applied %s migration %04d", q.d.name, version)


@dataclass(frozen=True)
class Dialect:
    """How one database spells what the other spells otherwise. Templates take `{a}`, `{b}`."""

    name: str
    rowid: str  # the physical row id, for bounded deletes
    lock_rows: str  # appended to a SELECT that locks its rows for this transaction
    like: str  # LIKE without case for ASCII letters
    same_name_sql: str  # {a} equals {b}, ASCII letters without case, as the name indexes decide
    by_name_sql: str  # an ORDER BY term for {a}, ASCII letters without case
    greatest_sql: str  # the larger of {a} and {b}
    any_sql: str  # {a} is one of the values bound as {b} (SQLite: `:b_0, :b_1, …` in `{b}`)
    unique_error: Callable[[BaseException], bool]
    # A query that is true when this write transaction may fill workspace `:ws`'s per-set day
    # cache (store/setdays.py): SQLite's write transaction already holds the whole database;
    # PostgreSQL tries the workspace's advisory lock that the cache's triggers take shared.
    set_fill_lock: str = "SELECT 1"

    def sql(self, text: str) -> str:
        """`text` in this driver's parameter style (SQLite takes `:name` as written)."""
        return text if self.name == "sqlite" else _pyformat(text)

    def in_list(self, column: str, name: str, values: Sequence[Any], args: dict[str, Any]) -> str:
        """`column` is one of `values`, as SQL; binds the values into `args`.

        On SQLite each value is a parameter of its own, and the list is padded to a power of
        two with its last value: Python's sqlite3 keeps 128 prepared statements per connection
        by their text, and a list of every length gave each click batch (its links, 1 to
        hundreds) a statement of its own, about 10 MiB of SQLite memory held in `serve` (#20).
        Lists longer than 16,384 are not padded.
        """
        if self.name != "sqlite":
            args[name] = list(values)
            return self.any_sql.format(a=column, b=f":{name}")
        if not values:
            return self.any_sql.format(a=column, b="NULL")
        size = 1 << (len(values) - 1).bit_length()
        if size > 16_384:  # padding would pass SQLite's 32,766 parameters; rare enough as is
            size = len(values)
        names = []
        for i in range(size):
            args[f"{name}_{i}"] = values[min(i, len(values) - 1)]
            names.append(f":{name}_{i}")
        return self.any_sql.format(a=column, b=", ".join(names))

    def same_name(self, column: str, param: str) -> str:
        return self.same_name_sql.format(a=column, b=param)

    def by_name(self, column: str) -> str:
        return self.by_name_sql.format(a=column)

    def greatest(self, a: str, b: str) -> str:
        return self.greatest_sql.format(a=a, b=b)

    def is_unique_violation(self, exc: BaseException) -> bool:
        return self.unique_error(exc)

    def insert_returning(self, cur: Cursor, sql: str, rows: Iterable[Sequence[Any]]) -> list[Any]:
        """Run an `INSERT … RETURNING` for each row (psycopg pipelines them); the rows it
        returned, in order."""
        out: list[Any] = []
        if self.name == "sqlite":
            for row in rows:
                out.extend(cur.execute(sql, row).fetchall())
            return out
        cur.executemany(sql, list(rows), returning=True)  # type: ignore[call-arg]
        while True:
            out.extend(cur.fetchall())
            if not cur.nextset():  # type: ignore[attr-defined]
                return out


def _sqlite_integrity(exc: BaseException) -> bool:
    import sqlite3

    return isinstance(exc, sqlite3.IntegrityError)


@lru_cache(maxsize=1024)
def _pyformat(text: str) -> str:
    """`:name` parameters as psycopg's `%(name)s` (and a literal `%` doubled); positional `?`
    as `%s`. Casts (`::text[]`) are left alone."""
    text = text.replace("%", "%%")
    text = _NAMED.sub(r"%(\1)s", text)
    return text.replace("?", "%s")


SQLITE = Dialect(
    name="sqlite",
    rowid="rowid",
    lock_rows="",  # a write transaction on SQLite already holds the whole database
    like="LIKE",
    same_name_sql="{a} = {b} COLLATE NOCASE",
    by_name_sql="{a} COLLATE NOCASE",
    greatest_sql="MAX({a}, {b})",
    any_sql="{a} IN ({b})",
    unique_error=_sqlite_integrity,
)
POSTGRES = Dialect(
    name="postgres",
    rowid="ctid",
    lock_rows=" FOR NO KEY UPDATE",
    like="ILIKE",
    same_name_sql='lower({a}) = lower({b} COLLATE "C")',
    by_name_sql="lower({a})",
    greatest_sql="GREATEST({a}, {b})",
    any_sql="{a} = ANY({b}::text[])",
    unique_error=lambda exc: getattr(exc, "sqlstate", None) == "23505",
    set_fill_lock="SELECT pg_try_advisory_xact_lock(hashtextextended('clypt.sets:' || :ws, 0))",
)


class Q:
    """One connection for the length of a job, with the dialect that speaks to it."""

    def __init__(self, cur: Cursor, dialect: Dialect) -> None:
        self.cur = cur
        self.d = dialect

    def all(self, sql: str, args: Args = None) -> list[Any]:
        rows: list[Any] = self.cur.execute(self.d.sql(sql), args or ()).fetchall()
        return rows

    def one(self, sql: str, args: Args = None) -> Any:
        return self.cur.execute(self.d.sql(sql), args or ()).fetchone()

    def scalar(self, sql: str, args: Args = None) -> Any:
        row = self.one(sql, args)
        return None if row is None else row[0]

    def run(self, sql: str, args: Args = None) -> int:
        """Execute; the number of rows it changed."""
        self.cur.execute(self.d.sql(sql), args or ())
        return int(self.cur.rowcount)

    def many(self, sql: str, rows: Sequence[Any]) -> None:
        if rows:
            self.cur.executemany(self.d.sql(sql), rows)

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """INSERT `rows` (values of `columns`, numbers, text or None) into `table`, in order.

        On SQLite in one statement over a JSON array (`json_each`): `executemany` steps once
        per row, and each step gives the GIL back and must win it again from a busy event
        loop, so under load 1,000 clicks took 0.6-1.2 s and held the one connection that long
        (issue #20). One step does the whole batch in C.
        """
        if not rows:
            return
        names = ", ".join(columns)
        if self.d.name != "sqlite":
            marks = ", ".join("?" for _ in columns)
            self.many(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            return
        picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
        self.cur.execute(
            f"INSERT INTO {table} ({names}) SELECT {picks} FROM json_each(?) ORDER BY key",
            (json.dumps(rows),),
        )

    def returning(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """An `INSERT … RETURNING` over many rows: what it returned."""
        return self.d.insert_returning(self.cur, self.d.sql(sql), rows) if rows else []

    def unique(self, sql: str, args: Args, taken: ClyptError) -> int:
        """Execute a write; a unique (or, on SQLite, any integrity) violation raises `taken`."""
        try:
            return self.run(sql, args)
        except Exception as exc:
            if self.d.is_unique_violation(exc):
                raise taken from exc
            raise


class Db(Protocol):
    """The seam: runs a job on a connection, in a transaction when it writes, retrying what
    can be retried, and turning driver errors into UnavailableError or a plain ClyptError."""

    dialect: Dialect

    async def run(self, fn: Callable[[Q], T], write: bool = False) -> T: ...
    async def open(self) -> None: ...
    async def close(self) -> None: ...


class Aggregate:
    """The base of each aggregate's implementation: its queries run through `self.db`."""

    db: Db

    async def _read(self, fn: Callable[[Q], T]) -> T:
        return await self.db.run(fn)

    async def _write(self, fn: Callable[[Q], T]) -> T:
        return await self.db.run(fn, write=True)
