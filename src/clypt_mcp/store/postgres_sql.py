"""Shared pieces of the PostgreSQL store: query helpers, link filters, unique-violation checks.

psycopg is only imported for type checking here, so `clypt_mcp.store` imports without it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from clypt_mcp.errors import ClyptError, InvalidInputError
from clypt_mcp.store.base import TABLES, LinkFilter, to_us

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import TupleRow

    Conn: TypeAlias = AsyncConnection[TupleRow]

UNIQUE_VIOLATION = "23505"

# Every column of `links`, in the order queries select them.
LINK_FIELDS = TABLES["links"][0]
LINK_SELECT = ", ".join(f"l.{c}" for c in LINK_FIELDS)

STATUS_SQL = """CASE
    WHEN l.deleted_at IS NOT NULL THEN 'deleted'
    WHEN l.disabled = 1 THEN 'disabled'
    WHEN (l.expires_at IS NOT NULL AND l.expires_at <= %(now)s)
      OR (l.max_clicks IS NOT NULL AND l.redirects >= l.max_clicks) THEN 'expired'
    WHEN l.starts_at IS NOT NULL AND l.starts_at > %(now)s THEN 'scheduled'
    ELSE 'active' END"""

# sort -> (column, descending, numeric)
SORTS: dict[str, tuple[str, bool, bool]] = {
    "-created_at": ("l.created_at", True, True),
    "created_at": ("l.created_at", False, True),
    "-clicks": ("l.clicks", True, True),
    "clicks": ("l.clicks", False, True),
    "code": ("l.code", False, False),
    "-code": ("l.code", True, False),
}


async def fetchall(conn: Conn, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    cur = await conn.execute(sql, params)
    return await cur.fetchall()


async def fetchone(conn: Conn, sql: str, params: Any = None) -> tuple[Any, ...] | None:
    cur = await conn.execute(sql, params)
    return await cur.fetchone()


async def scalar(conn: Conn, sql: str, params: Any = None) -> Any:
    row = await fetchone(conn, sql, params)
    return None if row is None else row[0]


async def rowcount(conn: Conn, sql: str, params: Any = None) -> int:
    cur = await conn.execute(sql, params)
    return cur.rowcount


def is_unique_violation(exc: BaseException) -> bool:
    """True for a unique or primary key violation (SQLSTATE 23505)."""
    return getattr(exc, "sqlstate", None) == UNIQUE_VIOLATION


async def execute_unique(conn: Conn, sql: str, params: Any, taken: ClyptError) -> None:
    """Run a write; a unique or primary key violation raises `taken` instead."""
    try:
        await conn.execute(sql, params)
    except Exception as exc:
        if is_unique_violation(exc):
            raise taken from exc
        raise


def link_where(
    flt: LinkFilter, now: datetime, include_deleted: bool = False
) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (over `links l`) and its parameters for a filter, as SqliteStore's."""
    clauses = ["l.workspace_id = %(ws)s"]
    args: dict[str, Any] = {"ws": flt.workspace_id, "now": to_us(now)}
    if flt.link_id is not None:
        clauses.append("l.id = %(link_id)s")
        args["link_id"] = flt.link_id
    if flt.query:
        like = "%" + flt.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(
            "(l.code ILIKE %(q)s ESCAPE '\\' OR l.url ILIKE %(q)s ESCAPE '\\' "
            "OR l.title ILIKE %(q)s ESCAPE '\\' OR l.notes ILIKE %(q)s ESCAPE '\\')"
        )
        args["q"] = like
    if flt.tag:
        clauses.append(
            """EXISTS (SELECT 1 FROM link_tags lt JOIN tags t ON t.id = lt.tag_id
                        WHERE lt.link_id = l.id AND lower(t.name) = lower(%(tag)s COLLATE "C"))"""
        )
        args["tag"] = flt.tag
    if flt.folder_ids is not None:
        clauses.append("l.folder_id = ANY(%(folders)s::text[])")
        args["folders"] = list(flt.folder_ids)
    if flt.status == "all" or include_deleted:
        pass
    elif flt.status is None:
        clauses.append("l.deleted_at IS NULL")
    else:
        clauses.append(f"({STATUS_SQL}) = %(status)s")
        args["status"] = flt.status
    return " AND ".join(clauses), args


def keyset_value(value: Any, numeric: bool) -> Any:
    """A cursor's sort value as the column's type (a forged cursor cannot reach the SQL)."""
    if numeric and isinstance(value, int) and not isinstance(value, bool):
        return value
    if not numeric and isinstance(value, str):
        return value
    raise InvalidInputError(
        "cursor: not a cursor from list_links — pass next_cursor unchanged, or omit it",
        field="cursor",
    )
