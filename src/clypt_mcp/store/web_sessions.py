"""Dashboard sessions (#18) on either database: one row per signed-in browser.

An aggregate on the store's `Db` (`store.web_sessions`), so the dashboard needs nothing of the
link and click code. Tokens arrive already hashed: the raw cookie value never reaches the
database.
"""

from __future__ import annotations

from dataclasses import dataclass

from clypt_mcp.store.sql import Aggregate, Db


@dataclass(frozen=True)
class SessionRow:
    workspace_id: str
    key_id: str
    expires_at: int  # microseconds since the epoch


class WebSessions(Aggregate):
    def __init__(self, db: Db) -> None:
        self.db = db

    async def create(
        self, token_hash: str, workspace_id: str, key_id: str, now_us: int, expires_us: int
    ) -> None:
        args = {"hash": token_hash, "ws": workspace_id, "key": key_id, "now": now_us,
                "expires": expires_us}  # fmt: skip
        sql = """INSERT INTO web_sessions (token_hash, workspace_id, key_id, created_at,
                     expires_at) VALUES (:hash, :ws, :key, :now, :expires)"""
        await self._write(lambda q: q.run(sql, args))

    async def find(self, token_hash: str, now_us: int) -> SessionRow | None:
        row = await self._read(
            lambda q: q.one(
                "SELECT workspace_id, key_id, expires_at FROM web_sessions "
                "WHERE token_hash = :hash AND expires_at > :now",
                {"hash": token_hash, "now": now_us},
            )
        )
        return None if row is None else SessionRow(str(row[0]), str(row[1]), int(row[2]))

    async def delete(self, token_hash: str) -> None:
        sql = "DELETE FROM web_sessions WHERE token_hash = :hash"
        await self._write(lambda q: q.run(sql, {"hash": token_hash}))

    async def purge(self, now_us: int) -> None:
        """Forget sessions that have expired."""
        sql = "DELETE FROM web_sessions WHERE expires_at <= :now"
        await self._write(lambda q: q.run(sql, {"now": now_us}))
