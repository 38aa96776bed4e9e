"""Dashboard sessions (#18) in either store: one row per signed-in browser.

Kept apart from the Store protocol so the dashboard needs nothing of the link and click code;
it runs its statements through the store's own connection handling (retries, transactions),
in the dialect of the store it is given. Tokens arrive already hashed: the raw cookie value
never reaches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clypt_mcp.store.base import Store


@dataclass(frozen=True)
class SessionRow:
    workspace_id: str
    key_id: str
    expires_at: int  # microseconds since the epoch


async def create(
    store: Store, token_hash: str, workspace_id: str, key_id: str, now_us: int, expires_us: int
) -> None:
    args = (token_hash, workspace_id, key_id, now_us, expires_us)
    await _write(
        store,
        "INSERT INTO web_sessions (token_hash, workspace_id, key_id, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)",
        args,
    )


async def find(store: Store, token_hash: str, now_us: int) -> SessionRow | None:
    row = await _one(
        store,
        "SELECT workspace_id, key_id, expires_at FROM web_sessions "
        "WHERE token_hash = ? AND expires_at > ?",
        (token_hash, now_us),
    )
    return None if row is None else SessionRow(str(row[0]), str(row[1]), int(row[2]))


async def delete(store: Store, token_hash: str) -> None:
    await _write(store, "DELETE FROM web_sessions WHERE token_hash = ?", (token_hash,))


async def purge(store: Store, now_us: int) -> None:
    """Forget sessions that have expired."""
    await _write(store, "DELETE FROM web_sessions WHERE expires_at <= ?", (now_us,))


async def _write(store: Store, sql: str, args: tuple[Any, ...]) -> None:
    from clypt_mcp.store.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        await store._tx(lambda db: db.execute(sql, args))
        return
    from clypt_mcp.store.postgres import PostgresStore
    from clypt_mcp.store.postgres_sql import rowcount

    assert isinstance(store, PostgresStore), f"no web sessions for {type(store).__name__}"
    pg = sql.replace("?", "%s")
    await store._tx(lambda c: rowcount(c, pg, args))


async def _one(store: Store, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    from clypt_mcp.store.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        row = await store._read(lambda db: db.execute(sql, args).fetchone())
        return None if row is None else tuple(row)
    from clypt_mcp.store.postgres import PostgresStore
    from clypt_mcp.store.postgres_sql import fetchone

    assert isinstance(store, PostgresStore), f"no web sessions for {type(store).__name__}"
    pg = sql.replace("?", "%s")
    return await store._run(lambda c: fetchone(c, pg, args))
