"""SqliteStore: the embedded default. One file, WAL, shared safely by several processes."""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from clypt_mcp.errors import (
    ClyptError,
    ConflictError,
    UnavailableError,
)
from clypt_mcp.models import ClickEvent, LinkSort
from clypt_mcp.store.base import (
    DAY,
    DIMENSIONS,
    EPOCH,
    GRAINS,
    LINK_COLUMNS,
    SLOT,
    TABLES,
    VISITOR_SECRET_BYTES,
    ClickStats,
    FolderRecord,
    KeyRecord,
    LinkFilter,
    LinkRecord,
    TagRecord,
    capped_rollups_sql,
    cover,
    first_visit_buckets,
    first_visit_times,
    folder_path,
    from_us,
    link_counts,
    rollup_rows,
    set_key,
    table_spec,
    to_us,
    unique_day_plan,
)
from clypt_mcp.store.rows import (
    code_taken,
    decode_link,
    encode_values,
    folder_taken,
    from_us_req,
    link_row,
    migrations,
    tag_taken,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
STATUS_SQL = """CASE
    WHEN l.deleted_at IS NOT NULL THEN 'deleted'
    WHEN l.disabled = 1 THEN 'disabled'
    WHEN (l.expires_at IS NOT NULL AND l.expires_at <= :now)
      OR (l.max_clicks IS NOT NULL AND l.redirects >= l.max_clicks) THEN 'expired'
    WHEN l.starts_at IS NOT NULL AND l.starts_at > :now THEN 'scheduled'
    ELSE 'active' END"""

_SORTS: dict[str, tuple[str, bool]] = {
    "-created_at": ("l.created_at", True),
    "created_at": ("l.created_at", False),
    "-clicks": ("l.clicks", True),
    "clicks": ("l.clicks", False),
    "code": ("l.code", False),
    "-code": ("l.code", True),
}


class SqliteStore:
    """The Store on one SQLite file. Writes take `BEGIN IMMEDIATE`; busy waits are bounded."""

    shared = False  # one process's (serve --workers N asks for shared limits by itself)

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    # --- plumbing ---------------------------------------------------------------------

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
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        self._conn = conn
        self._migrate()

    def _migrate(self) -> None:
        with self._write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at INTEGER)"
            )
            row = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
            current = row[0]
            for version, script in migrations("sqlite"):
                if version <= current:
                    continue
                for statement in _split_sql(script):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_version VALUES (?, ?)", (version, int(time.time() * 1e6))
                )
                log.info("applied SQLite migration %04d", version)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await anyio.to_thread.run_sync(conn.close)

    async def count_links(self) -> int:
        return int(
            await self._read(lambda db: db.execute("SELECT COUNT(*) FROM links").fetchone()[0])
        )

    async def schema_version(self) -> int:
        return await self._read(
            lambda db: db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        )

    async def count_rows(self, table: str) -> int:
        table_spec(table)
        return int(
            await self._read(lambda db: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        )

    async def dump_table(
        self, table: str, after: tuple[Any, ...] | None, limit: int
    ) -> list[tuple[Any, ...]]:
        columns, key = table_spec(table)
        sql = f"SELECT {', '.join(columns)} FROM {table}"
        args: list[Any] = []
        if after is not None:
            sql += f" WHERE ({', '.join(key)}) > ({', '.join('?' * len(key))})"
            args.extend(after)
        sql += f" ORDER BY {', '.join(key)} LIMIT ?"

        def job(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            cur = db.cursor()
            cur.row_factory = None  # plain tuples: a copy reads millions of rows
            return cur.execute(sql, [*args, limit]).fetchall()

        return await self._read(job)

    async def load_rows(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        columns, _ = table_spec(table)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"

        def job(db: sqlite3.Connection) -> None:
            try:
                db.executemany(sql, rows)
            except sqlite3.IntegrityError as exc:
                raise ConflictError(f"{table}: a copied row is already there") from exc

        await self._tx(job)

    async def clear_all(self) -> None:
        def job(db: sqlite3.Connection) -> None:
            db.execute("UPDATE folders SET parent_id = NULL")  # parents are RESTRICTed
            for table in reversed(TABLES):
                db.execute(f"DELETE FROM {table}")

        await self._tx(job)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise UnavailableError("the store is not open")
        return self._conn

    @staticmethod
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

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self.conn
        self._retry(lambda: db.execute("BEGIN IMMEDIATE"))
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            self._retry(lambda: db.execute("COMMIT"))

    async def _run(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        def job() -> T:
            with self._lock:
                if write:
                    with self._write() as db:
                        return fn(db)
                return self._retry(lambda: fn(self.conn))

        return await anyio.to_thread.run_sync(job)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(fn, write=False)

    async def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(fn, write=True)

    # --- workspaces -------------------------------------------------------------------

    async def ensure_workspace(self, workspace_id: str, now: datetime) -> None:
        await self._tx(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO workspaces (id, created_at) VALUES (?, ?)",
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
        row = link_row(record)

        def job(db: sqlite3.Connection) -> None:
            if folder_names:
                row["folder_id"] = _ensure_path(
                    db, record.workspace_id, folder_names, row["created_at"]
                )
            if idempotency is not None:
                key, request_hash, response = idempotency
                try:
                    db.execute(
                        "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?)",
                        (record.workspace_id, key, request_hash, response, row["created_at"]),
                    )
                except sqlite3.IntegrityError:
                    raise ConflictError("idempotency key already used", key=key) from None
            cols = ", ".join(row)
            marks = ", ".join(f":{c}" for c in row)
            try:
                db.execute(f"INSERT INTO links ({cols}) VALUES ({marks})", row)
            except sqlite3.IntegrityError as exc:
                raise code_taken(record.code) from exc
            _set_tags(db, record.workspace_id, record.id, tags, row["created_at"])

        await self._tx(job)

    async def get_link(
        self, workspace_id: str | None, *, link_id: str | None = None, code: str | None = None
    ) -> LinkRecord | None:
        def job(db: sqlite3.Connection) -> LinkRecord | None:
            where, args = ("l.id = ?", [link_id]) if link_id is not None else ("l.code = ?", [code])
            if workspace_id is not None:
                where += " AND l.workspace_id = ?"
                args.append(workspace_id)
            rows = db.execute(f"SELECT l.* FROM links l WHERE {where}", args).fetchall()
            records = _hydrate(db, rows)
            return records[0] if records else None

        return await self._read(job)

    async def update_link(
        self,
        workspace_id: str,
        link_id: str,
        changes: dict[str, Any],
        tags: list[str] | None,
        folder_names: list[str] | None = None,
    ) -> None:
        unknown = set(changes) - set(LINK_COLUMNS) - {"updated_at"}
        if unknown:
            raise ValueError(f"not link columns: {sorted(unknown)}")
        row = encode_values(changes)

        def job(db: sqlite3.Connection) -> None:
            if folder_names:
                now_us = row.get("updated_at") or _now_us()
                row["folder_id"] = _ensure_path(db, workspace_id, folder_names, now_us)
            if row:
                sets = ", ".join(f"{c} = :{c}" for c in row)
                try:
                    db.execute(
                        f"UPDATE links SET {sets} WHERE id = :_id AND workspace_id = :_ws",
                        {**row, "_id": link_id, "_ws": workspace_id},
                    )
                except sqlite3.IntegrityError as exc:
                    raise code_taken(str(changes.get("code"))) from exc
            if tags is not None:
                db.execute("DELETE FROM link_tags WHERE link_id = ?", (link_id,))
                _set_tags(db, workspace_id, link_id, tags, row.get("updated_at") or _now_us())

        await self._tx(job)

    async def delete_link(self, workspace_id: str, link_id: str) -> bool:
        def job(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "DELETE FROM links WHERE id = ? AND workspace_id = ?", (link_id, workspace_id)
            )
            if cur.rowcount == 0:
                return False
            args = {"ws": workspace_id, "id": link_id, "variants": link_id + "|%"}
            # The workspace's totals forget this link's clicks, and its unique visitors are
            # counted again from the marks of the links that remain.
            db.execute(
                """UPDATE rollups AS w SET clicks = w.clicks - l.clicks FROM rollups AS l
                    WHERE l.workspace_id = :ws AND l.link_id = :id AND l.dim <> 'uniques'
                      AND w.workspace_id = :ws AND w.link_id = '' AND w.grain = l.grain
                      AND w.dim = l.dim AND w.t = l.t AND w.key = l.key AND w.bot = l.bot""",
                args,
            )
            db.execute(
                "DELETE FROM rollups WHERE workspace_id = :ws AND link_id = '' AND dim = 'link' "
                "AND key = :id",
                args,
            )
            db.execute("DELETE FROM rollups WHERE workspace_id = :ws AND link_id = :id", args)
            days = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT day FROM visitor_days WHERE workspace_id = :ws "
                    "AND link_id = :id",
                    args,
                )
            ]
            db.execute(
                "DELETE FROM visitor_days WHERE workspace_id = :ws "
                "AND (link_id = :id OR link_id LIKE :variants)",
                args,
            )
            _recount_workspace_uniques(db, workspace_id, days)
            return True

        return await self._tx(job)

    async def list_links(
        self,
        flt: LinkFilter,
        sort: LinkSort,
        limit: int,
        after: tuple[Any, str] | None,
        now: datetime,
    ) -> tuple[list[LinkRecord], int]:
        where, args = _link_where(flt, now)
        column, desc = _SORTS[sort]
        order = f"{column} {'DESC' if desc else 'ASC'}, l.id {'DESC' if desc else 'ASC'}"
        page_where = where
        if after is not None:
            op = "<" if desc else ">"
            page_where += f" AND ({column} {op} :_av OR ({column} = :_av AND l.id {op} :_aid))"
            args = {**args, "_av": after[0], "_aid": after[1]}

        def job(db: sqlite3.Connection) -> tuple[list[LinkRecord], int]:
            total = db.execute(f"SELECT COUNT(*) FROM links l WHERE {where}", args).fetchone()[0]
            rows = db.execute(
                f"SELECT l.* FROM links l WHERE {page_where} ORDER BY {order} LIMIT :_limit",
                {**args, "_limit": limit},
            ).fetchall()
            return _hydrate(db, rows), total

        return await self._read(job)

    async def get_idempotent(self, workspace_id: str, key: str) -> tuple[str, str] | None:
        def job(db: sqlite3.Connection) -> tuple[str, str] | None:
            row = db.execute(
                "SELECT request_hash, response FROM idempotency WHERE workspace_id = ? AND key = ?",
                (workspace_id, key),
            ).fetchone()
            return (row[0], row[1]) if row else None

        return await self._read(job)

    async def put_idempotent(
        self, workspace_id: str, key: str, request_hash: str, response: str, now: datetime
    ) -> bool:
        def job(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "INSERT OR IGNORE INTO idempotency VALUES (?, ?, ?, ?, ?)",
                (workspace_id, key, request_hash, response, to_us(now)),
            )
            return cur.rowcount > 0

        return await self._tx(job)

    # --- tags -------------------------------------------------------------------------

    async def list_tags(self, workspace_id: str) -> list[TagRecord]:
        def job(db: sqlite3.Connection) -> list[TagRecord]:
            rows = db.execute(
                """SELECT t.id, t.name, t.color, t.created_at,
                          (SELECT COUNT(*) FROM link_tags lt JOIN links l ON l.id = lt.link_id
                            WHERE lt.tag_id = t.id AND l.deleted_at IS NULL) AS n
                     FROM tags t WHERE t.workspace_id = ? ORDER BY t.name COLLATE NOCASE""",
                (workspace_id,),
            ).fetchall()
            return [TagRecord(r[0], r[1], r[2], from_us_req(r[3]), r[4]) for r in rows]

        return await self._read(job)

    async def create_tag(self, workspace_id: str, record: TagRecord) -> None:
        def job(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO tags VALUES (?, ?, ?, ?, ?)",
                    (record.id, workspace_id, record.name, record.color, to_us(record.created_at)),
                )
            except sqlite3.IntegrityError as exc:
                raise tag_taken(record.name) from exc

        await self._tx(job)

    async def update_tag(
        self, workspace_id: str, tag_id: str, name: str, color: str | None
    ) -> None:
        def job(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "UPDATE tags SET name = ?, color = ? WHERE id = ? AND workspace_id = ?",
                    (name, color, tag_id, workspace_id),
                )
            except sqlite3.IntegrityError as exc:
                raise tag_taken(name) from exc

        await self._tx(job)

    async def delete_tag(self, workspace_id: str, tag_id: str) -> bool:
        def job(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "DELETE FROM tags WHERE id = ? AND workspace_id = ?", (tag_id, workspace_id)
            )
            return cur.rowcount > 0

        return await self._tx(job)

    # --- folders ----------------------------------------------------------------------

    async def list_folders(self, workspace_id: str) -> list[FolderRecord]:
        def job(db: sqlite3.Connection) -> list[FolderRecord]:
            rows = db.execute(
                """SELECT f.id, f.name, f.parent_id, f.created_at,
                          (SELECT COUNT(*) FROM links l WHERE l.folder_id = f.id
                              AND l.deleted_at IS NULL) AS n
                     FROM folders f WHERE f.workspace_id = ?""",
                (workspace_id,),
            ).fetchall()
            return [FolderRecord(r[0], r[1], r[2], from_us_req(r[3]), r[4]) for r in rows]

        return await self._read(job)

    async def create_folder(self, workspace_id: str, record: FolderRecord) -> None:
        def job(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO folders VALUES (?, ?, ?, ?, ?)",
                    (
                        record.id,
                        workspace_id,
                        record.parent_id,
                        record.name,
                        to_us(record.created_at),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise folder_taken(record.name) from exc

        await self._tx(job)

    async def ensure_folder_path(self, workspace_id: str, names: list[str], now: datetime) -> str:
        return await self._tx(lambda db: _ensure_path(db, workspace_id, names, to_us(now) or 0))

    async def update_folder(
        self, workspace_id: str, folder_id: str, name: str, parent_id: str | None
    ) -> None:
        def job(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "UPDATE folders SET name = ?, parent_id = ? WHERE id = ? AND workspace_id = ?",
                    (name, parent_id, folder_id, workspace_id),
                )
            except sqlite3.IntegrityError as exc:
                raise folder_taken(name) from exc

        await self._tx(job)

    async def delete_folder(self, workspace_id: str, folder_id: str) -> bool:
        def job(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT parent_id FROM folders WHERE id = ? AND workspace_id = ?",
                (folder_id, workspace_id),
            ).fetchone()
            if row is None:
                return False
            parent = row[0]
            db.execute("UPDATE links SET folder_id = ? WHERE folder_id = ?", (parent, folder_id))
            children = db.execute(
                "SELECT id, name FROM folders WHERE parent_id = ?", (folder_id,)
            ).fetchall()
            for child_id, child_name in children:
                try:
                    db.execute("UPDATE folders SET parent_id = ? WHERE id = ?", (parent, child_id))
                except sqlite3.IntegrityError as exc:
                    raise ConflictError(
                        f"folder '{child_name}' cannot move up: its new parent already has a "
                        "folder of that name — rename one first",
                        folder=child_name,
                    ) from exc
            db.execute("DELETE FROM folders WHERE id = ?", (folder_id,))
            return True

        return await self._tx(job)

    # --- clicks -----------------------------------------------------------------------

    async def record_clicks(self, events: list[ClickEvent]) -> None:
        if not events:
            return

        def job(db: sqlite3.Connection) -> None:
            _record_clicks(db, events)

        await self._tx(job)

    async def click_page(
        self,
        workspace_id: str,
        link_id: str | None,
        since: int | None,
        after: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        def job(db: sqlite3.Connection) -> list[dict[str, Any]]:
            sql = (
                "SELECT c.id, c.ts, l.code, c.variant, c.country, c.device, c.browser, c.os, "
                "c.referrer, c.visitor, c.bot, c.traffic, c.city FROM clicks c "
                "JOIN links l ON l.id = c.link_id "
                "WHERE c.workspace_id = :ws AND c.id > :after"
            )
            args: dict[str, Any] = {"ws": workspace_id, "after": after, "limit": limit}
            if link_id is not None:
                sql += " AND c.link_id = :link"
                args["link"] = link_id
            if since is not None:
                sql += " AND c.ts >= :since"
                args["since"] = since
            rows = db.execute(sql + " ORDER BY c.id LIMIT :limit", args).fetchall()
            return [dict(r) for r in rows]

        return await self._read(job)

    async def count_clicks(self, workspace_id: str, link_id: str | None, since: int | None) -> int:
        def job(db: sqlite3.Connection) -> int:
            sql = "SELECT COUNT(*) FROM clicks WHERE workspace_id = ?"
            args: list[Any] = [workspace_id]
            if link_id is not None:
                sql += " AND link_id = ?"
                args.append(link_id)
            if since is not None:
                sql += " AND ts >= ?"
                args.append(since)
            return int(db.execute(sql, args).fetchone()[0])

        return await self._read(job)

    async def purge_clicks(self, before: int, limit: int) -> int:
        def job(db: sqlite3.Connection) -> int:
            deleted = 0
            for (ws,) in db.execute("SELECT id FROM workspaces ORDER BY id").fetchall():
                if deleted >= limit:
                    return deleted
                deleted += db.execute(
                    """DELETE FROM clicks WHERE id IN (SELECT id FROM clicks
                        WHERE workspace_id = ? AND ts < ? LIMIT ?)""",
                    (ws, before, limit - deleted),
                ).rowcount
            # Visitor marks stay: unique visitors of a folder, a tag or any set of links are
            # counted from them, and must not change when raw clicks go.
            return deleted

        return await self._tx(job)

    async def cap_rollups(self, since: int) -> int:
        def job(db: sqlite3.Connection) -> int:
            rows = db.execute(capped_rollups_sql("?"), (since,)).fetchall()
            db.executemany(
                """INSERT INTO rollups VALUES (?, ?, ?, ?, ?, 'other', ?, ?)
                   ON CONFLICT DO UPDATE SET clicks = clicks + excluded.clicks""",
                [(r[0], r[1], r[2], r[3], r[4], r[6], r[7]) for r in rows],
            )
            db.executemany(
                "DELETE FROM rollups WHERE workspace_id = ? AND link_id = ? AND grain = ? "
                "AND dim = ? AND t = ? AND key = ? AND bot = ?",
                [tuple(r[:7]) for r in rows],
            )
            return len(rows)

        return await self._tx(job)

    async def purge_idempotency(self, before: int, limit: int) -> int:
        def job(db: sqlite3.Connection) -> int:
            return int(
                db.execute(
                    """DELETE FROM idempotency WHERE rowid IN
                        (SELECT rowid FROM idempotency WHERE created_at < ? LIMIT ?)""",
                    (before, limit),
                ).rowcount
            )

        return await self._tx(job)

    async def purge_request_counts(self, before: int) -> int:
        def job(db: sqlite3.Connection) -> int:
            sql = "DELETE FROM rate_limits WHERE window_start < ?"
            return int(db.execute(sql, (before,)).rowcount)

        return await self._tx(job)

    async def count_redirect(self, link_id: str, now: datetime) -> bool:
        def job(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                """UPDATE links SET redirects = redirects + 1
                    WHERE id = ? AND (max_clicks IS NULL OR redirects < max_clicks)""",
                (link_id,),
            )
            return cur.rowcount > 0

        return await self._tx(job)

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
        whole = flt.link_id is None and not (flt.tag or flt.folder_ids or flt.query)
        members = ""
        if whole:
            links_sql, args = "r.link_id = ''", {"ws": flt.workspace_id}
        else:
            link_where, link_args = _link_where(flt, EPOCH, include_deleted=True)
            members = f"SELECT l.id FROM links l WHERE {link_where}"
            links_sql = f"r.link_id IN ({members})"
            args = dict(link_args)
        every = f"r.workspace_id = :ws AND {links_sql}"
        base = every + ("" if include_bots else " AND r.bot = 0")
        period = cover(start, end)
        series = cover(start, end, unit)

        remember: list[tuple[str, int, str, int]] = []  # unique_days rows to cache

        def job(db: sqlite3.Connection) -> ClickStats:
            def rows(
                dim: str, ranges: list[tuple[int, int, int]], cols: str, where: str = base
            ) -> str:
                return (
                    " UNION ALL ".join(
                        f"SELECT {cols} FROM rollups r WHERE {where} AND r.grain = {g} "
                        f"AND r.dim = '{dim}' AND r.t >= {lo} AND r.t < {hi}"
                        for g, lo, hi in ranges
                    )
                    or "SELECT NULL AS k, 0 AS n WHERE 0"
                )

            def grouped(dim: str, ranges: list[tuple[int, int, int]], key: str, limit: str) -> Any:
                inner = rows(dim, ranges, f"{key} AS k, r.clicks AS n")
                sql = f"SELECT k, SUM(n) AS n FROM ({inner}) GROUP BY k HAVING SUM(n) > 0 "
                sql += f"ORDER BY {limit}"
                return db.execute(sql, {**args, "_top": top}).fetchall()

            def total(dim: str) -> int:
                sql = f"SELECT IFNULL(SUM(n), 0) FROM ({rows(dim, period, 'r.clicks AS n')})"
                return int(db.execute(sql, args).fetchone()[0])

            def uniques() -> int:
                if whole or flt.link_id is not None:  # one set's own first-visit rollups
                    return total("uniques")
                # Any other set: the distinct visitors of each UTC day over the marks of its
                # links (whole past days cached in unique_days), and at a partial day at an
                # edge of the window those whose first visit to the set falls in it.
                key = set_key(members, args)
                settled, fresh, partial = unique_day_plan(start, end, int(time.time()))
                counts: dict[int, int] = {}
                if settled:
                    counts.update(
                        db.execute(
                            "SELECT day, visitors FROM unique_days WHERE workspace_id = :ws "
                            "AND day >= :_a AND day <= :_b AND set_key = :_k",
                            {**args, "_a": settled[0], "_b": settled[-1], "_k": key},
                        ).fetchall()
                    )
                todo = [d for d in settled if d not in counts] + fresh
                if todo:
                    found = dict(
                        db.execute(
                            f"""SELECT v.day, COUNT(DISTINCT v.visitor) FROM visitor_days v
                                 WHERE v.workspace_id = :ws AND v.link_id IN ({members})
                                   AND v.day >= :_a AND v.day <= :_b GROUP BY v.day""",
                            {**args, "_a": min(todo), "_b": max(todo)},
                        ).fetchall()
                    )
                    for day in todo:
                        counts[day] = found.get(day, 0)
                    remember.extend(
                        (flt.workspace_id, d, key, counts[d]) for d in todo if d in set(settled)
                    )
                n = sum(counts[d] for d in settled + fresh)
                for lo, hi in partial:
                    sql = f"""SELECT COUNT(*) FROM (SELECT MIN(v.first_ts) AS f
                                FROM visitor_days v
                               WHERE v.workspace_id = :ws AND v.link_id IN ({members})
                                 AND v.day = :_d GROUP BY v.visitor) AS s
                              WHERE f >= :_lo AND f < :_hi"""
                    span = {"_d": lo // DAY * DAY, "_lo": lo, "_hi": hi}
                    n += int(db.execute(sql, {**args, **span}).fetchone()[0])
                return n

            all_time = db.execute(
                f"SELECT IFNULL(SUM(r.clicks), 0) FROM rollups r WHERE {base} "
                "AND r.grain = 86400 AND r.dim = '*'",
                args,
            ).fetchone()[0]
            top_order = "n DESC, k LIMIT :_top"
            breakdowns = {
                dim: [(r[0], r[1]) for r in grouped(dim, period, "r.key", top_order)]
                for dim in DIMENSIONS
            }
            if whole:
                by_link = grouped("link", period, "r.key", top_order)
            else:
                by_link = grouped("*", period, "r.link_id", top_order)
            breakdowns["link"] = _codes(db, [(r[0], r[1]) for r in by_link])
            buckets = grouped("*", series, f"(r.t / {unit}) * {unit}", "k")
            every_class = rows("traffic", period, "r.key AS k, r.clicks AS n", every)
            traffic = db.execute(
                f"SELECT k, SUM(n) AS n FROM ({every_class}) GROUP BY k HAVING SUM(n) > 0 "
                "ORDER BY n DESC, k",
                args,
            ).fetchall()
            variants: list[tuple[str, int, int]] = []
            if flt.link_id is not None:
                seen = dict(grouped("variant_uniques", period, "r.key", "k"))
                variants = [
                    (r[0], r[1], seen.get(r[0], 0))
                    for r in grouped("variant", period, "r.key", "n DESC, k")
                ]
            first = None
            if want_first:
                first = db.execute(
                    f"SELECT MIN(r.t) FROM rollups r WHERE {base} AND r.grain = 900 "
                    "AND r.dim = '*'",
                    args,
                ).fetchone()[0]
            return ClickStats(
                total_clicks=all_time,
                clicks_in_period=total("*"),
                unique_visitors=uniques(),
                buckets=[(b[0], b[1]) for b in buckets],
                breakdowns=breakdowns,
                first_bucket=first,
                traffic=[(r[0], r[1]) for r in traffic],
                variants=variants,
            )

        stats = await self._read(job)
        if remember:
            try:
                await self._tx(
                    lambda db: db.executemany(
                        "INSERT OR IGNORE INTO unique_days VALUES (?, ?, ?, ?)", remember
                    )
                )
            except (UnavailableError, sqlite3.Error):  # a cache: a read-only store goes on
                log.debug("unique_days not written", exc_info=True)
        return stats

    # --- api keys ---------------------------------------------------------------------

    async def insert_key(self, record: KeyRecord, key_hash: str, max_active: int) -> bool:
        def job(db: sqlite3.Connection) -> bool:
            now = to_us(record.created_at)
            active = db.execute(
                """SELECT COUNT(*) FROM api_keys WHERE workspace_id = ? AND revoked_at IS NULL
                       AND (expires_at IS NULL OR expires_at > ?)""",
                (record.workspace_id, now),
            ).fetchone()[0]
            if active >= max_active:
                return False
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
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
        def job(db: sqlite3.Connection) -> list[KeyRecord]:
            if workspace_id is None:
                rows = db.execute("SELECT * FROM api_keys ORDER BY created_at").fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM api_keys WHERE workspace_id = ? ORDER BY created_at",
                    (workspace_id,),
                ).fetchall()
            return [_key(r) for r in rows]

        return await self._read(job)

    async def find_key(self, key_hash: str) -> KeyRecord | None:
        def job(db: sqlite3.Connection) -> KeyRecord | None:
            row = db.execute("SELECT * FROM api_keys WHERE hash = ?", (key_hash,)).fetchone()
            return _key(row) if row else None

        return await self._read(job)

    async def revoke_key(self, workspace_id: str | None, key_id: str, now: datetime) -> bool:
        def job(db: sqlite3.Connection) -> bool:
            sql = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
            args: list[Any] = [to_us(now), key_id]
            if workspace_id is not None:
                sql += " AND workspace_id = ?"
                args.append(workspace_id)
            return db.execute(sql, args).rowcount > 0

        return await self._tx(job)

    async def touch_key(self, key_id: str, now: datetime) -> None:
        await self._tx(
            lambda db: db.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ?", (to_us(now), key_id)
            )
        )

    # --- shared state -----------------------------------------------------------------

    async def visitor_secret(self) -> bytes:
        """The secret in the database; on first use, the one in a `<db>.visitor-key` file
        left by an earlier version when there is one (so today's unique visitors stay
        continuous), else a new one.

        Raises: ClyptError when that file cannot be read or holds no secret.
        """

        def job(db: sqlite3.Connection) -> bytes:
            row = db.execute("SELECT value FROM secrets WHERE name = 'visitor'").fetchone()
            if row is None:
                secret = _legacy_visitor_secret(self.path) or secrets.token_bytes(
                    VISITOR_SECRET_BYTES
                )
                db.execute(
                    """INSERT INTO secrets (name, value, created_at) VALUES ('visitor', ?, ?)
                       ON CONFLICT (name) DO NOTHING""",
                    (secret, _now_us()),
                )
                row = db.execute("SELECT value FROM secrets WHERE name = 'visitor'").fetchone()
            return bytes(row[0])

        return await self._tx(job)

    async def set_visitor_secret(self, secret: bytes) -> None:
        def job(db: sqlite3.Connection) -> None:
            db.execute(
                """INSERT INTO secrets (name, value, created_at) VALUES ('visitor', ?, ?)
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
                (secret, _now_us()),
            )

        await self._tx(job)

    async def count_request(self, key: str, window_start: int, limit: int) -> int | None:
        def job(db: sqlite3.Connection) -> int | None:
            rows = db.execute(
                """INSERT INTO rate_limits (key, window_start, count) VALUES (?, ?, 1)
                   ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1
                   WHERE count < ?
                   RETURNING count""",
                (key, window_start, limit),
            ).fetchall()
            if not rows:
                return None
            count = int(rows[0][0])
            if count == 1:  # a new window: the key's older ones are done with
                db.execute(
                    "DELETE FROM rate_limits WHERE key = ? AND window_start < ?",
                    (key, window_start),
                )
            return count

        if limit < 1:
            return None
        return await self._tx(job)

    async def request_count(self, key: str, window_start: int) -> int:
        def job(db: sqlite3.Connection) -> int:
            row = db.execute(
                "SELECT count FROM rate_limits WHERE key = ? AND window_start = ?",
                (key, window_start),
            ).fetchone()
            return int(row[0]) if row else 0

        return await self._read(job)


# --- helpers ------------------------------------------------------------------------------


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


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def _hydrate(db: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[LinkRecord]:
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    marks = ",".join("?" * len(ids))
    tags: dict[str, list[str]] = {}
    for link_id, name in db.execute(
        f"""SELECT lt.link_id, t.name FROM link_tags lt JOIN tags t ON t.id = lt.tag_id
             WHERE lt.link_id IN ({marks}) ORDER BY t.name COLLATE NOCASE""",
        ids,
    ):
        tags.setdefault(link_id, []).append(name)
    paths = _folder_paths(db, rows[0]["workspace_id"]) if any(r["folder_id"] for r in rows) else {}
    return [decode_link(dict(r), tags, paths) for r in rows]


def _folder_paths(db: sqlite3.Connection, workspace_id: str) -> dict[str, str]:
    rows = db.execute(
        "SELECT id, parent_id, name FROM folders WHERE workspace_id = ?", (workspace_id,)
    ).fetchall()
    parents = {r[0]: (r[1], r[2]) for r in rows}
    return {fid: folder_path(fid, parents) for fid in parents}


def _link_where(
    flt: LinkFilter, now: datetime, include_deleted: bool = False
) -> tuple[str, dict[str, Any]]:
    clauses = ["l.workspace_id = :ws"]
    args: dict[str, Any] = {"ws": flt.workspace_id, "now": to_us(now)}
    if flt.link_id is not None:
        clauses.append("l.id = :link_id")
        args["link_id"] = flt.link_id
    if flt.query:
        like = "%" + flt.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(
            "(l.code LIKE :q ESCAPE '\\' OR l.url LIKE :q ESCAPE '\\' "
            "OR l.title LIKE :q ESCAPE '\\' OR l.notes LIKE :q ESCAPE '\\')"
        )
        args["q"] = like
    if flt.tag:
        clauses.append(
            """EXISTS (SELECT 1 FROM link_tags lt JOIN tags t ON t.id = lt.tag_id
                        WHERE lt.link_id = l.id AND t.name = :tag COLLATE NOCASE)"""
        )
        args["tag"] = flt.tag
    if flt.folder_ids is not None:
        names = []
        for i, folder_id in enumerate(flt.folder_ids):
            args[f"f{i}"] = folder_id
            names.append(f":f{i}")
        clauses.append(f"l.folder_id IN ({','.join(names) or 'NULL'})")
    if flt.status == "all" or include_deleted:
        pass
    elif flt.status is None:
        clauses.append("l.deleted_at IS NULL")
    else:
        clauses.append(f"({STATUS_SQL}) = :status")
        args["status"] = flt.status
    return " AND ".join(clauses), args


def _key(row: sqlite3.Row) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        workspace_id=row["workspace_id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=[s for s in row["scopes"].split(",") if s],
        created_at=from_us_req(row["created_at"]),
        expires_at=from_us(row["expires_at"]),
        revoked_at=from_us(row["revoked_at"]),
        last_used_at=from_us(row["last_used_at"]),
    )


def _set_tags(
    db: sqlite3.Connection, workspace_id: str, link_id: str, names: list[str], now_us: int
) -> None:
    from clypt_mcp.models import new_id

    for name in names:
        db.execute(
            "INSERT OR IGNORE INTO tags (id, workspace_id, name, color, created_at) "
            "VALUES (?, ?, ?, NULL, ?)",
            (new_id("tag"), workspace_id, name, now_us),
        )
        db.execute(
            """INSERT OR IGNORE INTO link_tags (link_id, tag_id)
               SELECT ?, id FROM tags WHERE workspace_id = ? AND name = ? COLLATE NOCASE""",
            (link_id, workspace_id, name),
        )


def _ensure_path(db: sqlite3.Connection, workspace_id: str, names: list[str], now_us: int) -> str:
    from clypt_mcp.models import new_id

    parent: str | None = None
    for name in names:
        row = db.execute(
            """SELECT id FROM folders WHERE workspace_id = ? AND IFNULL(parent_id, '') = ?
                   AND name = ? COLLATE NOCASE""",
            (workspace_id, parent or "", name),
        ).fetchone()
        if row is None:
            folder_id = new_id("fld")
            db.execute(
                "INSERT INTO folders VALUES (?, ?, ?, ?, ?)",
                (folder_id, workspace_id, parent, name, now_us),
            )
            parent = folder_id
        else:
            parent = row[0]
    if parent is None:
        raise ValueError("a folder path needs at least one name")
    return parent


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


def _codes(db: sqlite3.Connection, by_id: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Link ids to their codes (a link deleted for good keeps its id as the key)."""
    if not by_id:
        return []
    marks = ",".join("?" * len(by_id))
    codes = dict(
        db.execute(f"SELECT id, code FROM links WHERE id IN ({marks})", [i for i, _ in by_id])
    )
    return [(codes.get(i, i), n) for i, n in by_id]


def _first_visits(
    db: sqlite3.Connection, events: list[ClickEvent]
) -> dict[tuple[str, str, int, str, int, str, int], int]:
    """Count each human visitor once per UTC day (workspace-wide, per link and per variant),
    in the rollup buckets of their first visit that day; the new marks are kept."""
    firsts = first_visit_times(events)  # (ws, link, day, visitor) -> first ts
    groups: dict[tuple[str, str, int], list[str]] = {}
    for ws, link, day, visitor in firsts:
        groups.setdefault((ws, link, day), []).append(visitor)
    new: list[tuple[str, str, int, str]] = []
    for (ws, link, day), visitors in groups.items():
        seen: set[str] = set()
        for i in range(0, len(visitors), 500):
            chunk = visitors[i : i + 500]
            marks = ",".join("?" * len(chunk))
            seen.update(
                r[0]
                for r in db.execute(
                    "SELECT visitor FROM visitor_days WHERE workspace_id = ? AND link_id = ? "
                    f"AND day = ? AND visitor IN ({marks})",
                    (ws, link, day, *chunk),
                )
            )
        new.extend((ws, link, day, v) for v in visitors if v not in seen)
    db.executemany(
        "INSERT INTO visitor_days (workspace_id, link_id, day, visitor, first_ts) "
        "VALUES (?, ?, ?, ?, ?)",
        [(*mark, firsts[mark]) for mark in new],
    )
    return first_visit_buckets(firsts, new)


def _recount_workspace_uniques(db: sqlite3.Connection, workspace_id: str, days: list[int]) -> None:
    """Rebuild the workspace's visitor marks and 'uniques' rollups of `days` from the marks of
    the links that remain (after a link is deleted for good)."""
    for day in days:
        args = {"ws": workspace_id, "day": day, "end": day + 86400}
        db.execute(
            "DELETE FROM visitor_days WHERE workspace_id = :ws AND link_id = '' AND day = :day",
            args,
        )
        db.execute(
            """INSERT INTO visitor_days (workspace_id, link_id, day, visitor, first_ts)
               SELECT :ws, '', :day, visitor, MIN(first_ts) FROM visitor_days
                WHERE workspace_id = :ws AND day = :day
                  AND link_id IN (SELECT id FROM links WHERE workspace_id = :ws)
                GROUP BY visitor""",
            args,
        )
        db.execute(
            "DELETE FROM rollups WHERE workspace_id = :ws AND link_id = '' AND dim = 'uniques' "
            "AND t >= :day AND t < :end",
            args,
        )
        for grain in GRAINS:
            db.execute(
                f"""INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
                    SELECT :ws, '', {grain}, 'uniques', (first_ts / {grain}) * {grain}, '', 0,
                           COUNT(*) FROM visitor_days
                     WHERE workspace_id = :ws AND link_id = '' AND day = :day GROUP BY 5""",
                args,
            )


def _record_clicks(db: sqlite3.Connection, events: list[ClickEvent]) -> None:
    """Insert clicks, bump their links' counters and rollups. Clicks of a link deleted for good
    since its redirect are dropped, not the whole batch."""
    ids = sorted({e.link_id for e in events})
    marks = ",".join("?" * len(ids))
    alive = {r[0] for r in db.execute(f"SELECT id FROM links WHERE id IN ({marks})", ids)}
    events = [e for e in events if e.link_id in alive]
    if not events:
        return
    db.executemany(
        """INSERT INTO clicks (workspace_id, link_id, ts, variant, country, device, browser,
               os, referrer, visitor, bot, traffic, city)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            (e.workspace_id, e.link_id, e.ts, e.variant, e.country, e.device,
             e.browser, e.os, e.referrer, e.visitor, int(e.bot), e.traffic, e.city)
            for e in events
        ],
    )  # fmt: skip
    db.executemany(
        """UPDATE links SET clicks = clicks + ?,
               last_clicked_at = MAX(IFNULL(last_clicked_at, 0), ?) WHERE id = ?""",
        [(n, last, link_id) for link_id, n, last in link_counts(events)],
    )
    rollups = rollup_rows(events)
    for key, n in _first_visits(db, events).items():
        rollups[key] = rollups.get(key, 0) + n
    db.executemany(
        """INSERT INTO rollups VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT DO UPDATE SET clicks = clicks + excluded.clicks""",
        [(*key, n) for key, n in rollups.items()],
    )
