"""Idempotency keys and request counters on either database."""

from __future__ import annotations

from datetime import datetime

from clypt_mcp.store.base import to_us
from clypt_mcp.store.sql import Aggregate, Q


class Guards(Aggregate):
    async def get_idempotent(self, workspace_id: str, key: str) -> tuple[str, str] | None:
        row = await self._read(
            lambda q: q.one(
                "SELECT request_hash, response FROM idempotency "
                "WHERE workspace_id = :ws AND key = :key",
                {"ws": workspace_id, "key": key},
            )
        )
        return (row[0], row[1]) if row else None

    async def put_idempotent(
        self, workspace_id: str, key: str, request_hash: str, response: str, now: datetime
    ) -> bool:
        args = {"ws": workspace_id, "key": key, "hash": request_hash, "response": response,
                "now": to_us(now)}  # fmt: skip
        sql = """INSERT INTO idempotency (workspace_id, key, request_hash, response, created_at)
                 VALUES (:ws, :key, :hash, :response, :now) ON CONFLICT DO NOTHING"""
        return await self._write(lambda q: q.run(sql, args)) > 0

    async def purge_idempotency(self, before: int, limit: int) -> int:
        def job(q: Q) -> int:
            return q.run(
                f"""DELETE FROM idempotency WHERE {q.d.rowid} IN
                    (SELECT {q.d.rowid} FROM idempotency WHERE created_at < :before LIMIT :n)""",
                {"before": before, "n": limit},
            )

        return await self._write(job)

    async def count_request(self, key: str, window_start: int, limit: int) -> int | None:
        args = {"key": key, "start": window_start, "limit": limit}

        def job(q: Q) -> int | None:
            count = q.scalar(
                """INSERT INTO rate_limits (key, window_start, count) VALUES (:key, :start, 1)
                   ON CONFLICT (key, window_start)
                   DO UPDATE SET count = rate_limits.count + 1 WHERE rate_limits.count < :limit
                   RETURNING count""",
                args,
            )
            if count == 1:  # a new window: the key's older ones are done with
                q.run("DELETE FROM rate_limits WHERE key = :key AND window_start < :start", args)
            return None if count is None else int(count)

        if limit < 1:
            return None
        return await self._write(job)

    async def request_count(self, key: str, window_start: int) -> int:
        count = await self._read(
            lambda q: q.scalar(
                "SELECT count FROM rate_limits WHERE key = :key AND window_start = :start",
                {"key": key, "start": window_start},
            )
        )
        return 0 if count is None else int(count)

    async def purge_request_counts(self, before: int) -> int:
        sql = "DELETE FROM rate_limits WHERE window_start < :before"
        return await self._write(lambda q: q.run(sql, {"before": before}))
