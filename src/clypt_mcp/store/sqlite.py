"""SqliteStore: the embedded default. One file, WAL, shared safely by several processes."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

from clypt_mcp.errors import ClyptError, UnavailableError
from clypt_mcp.store.sql import SQLITE, Dialect, Q, migrate
from clypt_mcp.store.tables import SqlStore

log = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000


class SqliteDb:
    """The seam on one SQLite file: one connection, used by one job at a time. Writes take
    `BEGIN IMMEDIATE`; busy waits are bounded, then UnavailableError."""

    dialect: Dialect = SQLITE

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        # One job at a time holds the connection, so one worker thread is all it needs: without
        # this limiter every waiting job held a thread of its own (up to anyio's 40), each
        # blocked on the lock and each with its own malloc arena (#20).
        self._threads = anyio.CapacityLimiter(1)

    async def open(self) -> None:
        await anyio.to_thread.run_sync(self._open_sync)

    def _open_sync(self) -> None:
        if self.path != ":memory:":
            folder = Path(self.path).expanduser().parent
            if not folder.exists():
                folder.mkdir(parents=True, mode=0o700, exist_ok=True)
            if not Path(self.path).exists():
                fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
                os.close(fd)
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        self.conn = conn
        with self._lock:
            self._job(self._migrate, write=True)

    def _migrate(self, q: Q) -> None:
        migrate(q, lambda script: [q.run(statement) for statement in _split_sql(script)])

    async def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            await anyio.to_thread.run_sync(conn.close)

    async def run(self, fn: Callable[[Q], T], write: bool = False) -> T:
        def job() -> T:
            with self._lock:
                return self._job(fn, write)

        # shielded: a job, once asked for, runs to its end as it did when it waited on the lock
        # in a thread of its own; a cancellation arrives after it
        with anyio.CancelScope(shield=True):
            out = await anyio.to_thread.run_sync(job, limiter=self._threads)
        await anyio.lowlevel.checkpoint()
        return out

    def _job(self, fn: Callable[[Q], T], write: bool) -> T:
        db = self.conn
        if db is None:
            raise UnavailableError("the store is not open")
        if not write:
            return _retry(lambda: fn(Q(db.cursor(), SQLITE)))
        _retry(lambda: db.execute("BEGIN IMMEDIATE"))
        try:
            out = fn(Q(db.cursor(), SQLITE))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        _retry(lambda: db.execute("COMMIT"))
        return out


class SqliteStore(SqlStore):
    """The Store on one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        super().__init__(SqliteDb(self.path))

    @property
    def conn(self) -> sqlite3.Connection:
        assert isinstance(self.db, SqliteDb)
        if self.db.conn is None:
            raise UnavailableError("the store is not open")
        return self.db.conn

    def _new_visitor_secret(self) -> bytes:
        """The secret in a `<db>.visitor-key` file left by an earlier version when there is
        one (so today's unique visitors stay continuous), else a new one.

        Raises: ClyptError when that file cannot be read or holds no secret.
        """
        return _legacy_visitor_secret(self.path) or super()._new_visitor_secret()


def _retry(fn: Callable[[], T], attempts: int = 8) -> T:
    delay = 0.01
    for attempt in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise UnavailableError("the database could not be used — try again") from exc
            if attempt == attempts - 1:
                raise UnavailableError("the database stayed busy — try again shortly") from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    raise AssertionError("unreachable")


def _split_sql(script: str) -> list[str]:
    """The statements of a script, a trigger's BEGIN ... END block kept whole."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip().rstrip(";").strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return [s for s in out if s]


def _legacy_visitor_secret(path: str) -> bytes | None:
    """The secret in the `<db>.visitor-key` file earlier versions kept beside the database
    (hex, mode 0600); None when there is no such file."""
    if path == ":memory:":
        return None
    database = Path(path).expanduser()
    key_file = database.with_name(database.name + ".visitor-key")
    try:
        data = key_file.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ClyptError(f"cannot read the visitor key {key_file}: {exc.strerror}") from None
    try:
        secret = bytes.fromhex(data.decode().strip())
    except ValueError:
        secret = b""
    if len(secret) < 16:
        raise ClyptError(
            f"{key_file} does not hold a visitor-hash secret; delete it to make a new one"
        )
    return secret


def backup_file(source: Path | str, target: Path | str) -> int:
    """Copy a live SQLite store into `target` with SQLite's online backup API.

    Safe while other processes write (pages are copied in steps, each under a read lock).
    Returns the number of pages copied.
    """
    target_path = Path(target)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    if target_path.exists():
        target_path.unlink()
    fd = os.open(target_path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    src = sqlite3.connect(str(source), timeout=BUSY_TIMEOUT_MS / 1000)
    dst = sqlite3.connect(str(target_path))
    try:
        pages = 0

        def progress(status: int, remaining: int, total: int) -> None:
            nonlocal pages
            pages = total

        with dst:
            src.backup(dst, pages=256, progress=progress)
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise UnavailableError(f"the backup failed its integrity check: {check}")
        return pages
    finally:
        dst.close()
        src.close()
