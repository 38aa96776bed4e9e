"""Jobs (#17) on either database: exports and imports whose state outlives the request and
the process that started them, and the files exports write.

An aggregate on the store's `Db` (`store.jobs`). Times are integer microseconds. A job moves
queued -> running -> done | failed | cancelled; every write that moves it names the status it
expects, so a cancel that lands first wins over the runner's last word.
"""

from __future__ import annotations

import json
from typing import Any

from clypt_mcp.store.base import JobRow
from clypt_mcp.store.sql import Aggregate, Db, Q

_COLUMNS = ("id, workspace_id, kind, status, done, total, params, result, error, created_at, "
            "heartbeat_at, expires_at")  # fmt: skip


def _row(r: Any) -> JobRow:
    return JobRow(
        id=str(r[0]),
        workspace_id=str(r[1]),
        kind=str(r[2]),
        status=str(r[3]),
        done=int(r[4]),
        total=None if r[5] is None else int(r[5]),
        params=json.loads(r[6]),
        result=None if r[7] is None else json.loads(r[7]),
        error=r[8],
        created_at=int(r[9]),
        heartbeat_at=int(r[10]),
        expires_at=int(r[11]),
    )


class Jobs(Aggregate):
    def __init__(self, db: Db) -> None:
        self.db = db

    async def create(self, row: JobRow) -> None:
        args = {"id": row.id, "ws": row.workspace_id, "kind": row.kind, "status": row.status,
                "params": json.dumps(row.params), "now": row.created_at,
                "expires": row.expires_at}  # fmt: skip
        sql = f"""INSERT INTO jobs ({_COLUMNS}) VALUES (:id, :ws, :kind, :status, 0, NULL,
                  :params, NULL, NULL, :now, :now, :expires)"""
        await self._write(lambda q: q.run(sql, args))

    async def get(self, workspace_id: str, job_id: str) -> JobRow | None:
        sql = f"SELECT {_COLUMNS} FROM jobs WHERE workspace_id = :ws AND id = :id"
        row = await self._read(lambda q: q.one(sql, {"ws": workspace_id, "id": job_id}))
        return None if row is None else _row(row)

    async def page(
        self, workspace_id: str, kinds: list[str], before: tuple[int, str] | None, limit: int
    ) -> list[JobRow]:
        """Jobs of `kinds`, newest first, after the keyset `(created_at, id)` of `before`."""

        def job(q: Q) -> list[JobRow]:
            args: dict[str, Any] = {"ws": workspace_id, "limit": limit}
            where = f"workspace_id = :ws AND {q.d.in_list('kind', 'kinds', kinds, args)}"
            if before is not None:
                where += " AND (created_at < :b_at OR (created_at = :b_at AND id < :b_id))"
                args["b_at"], args["b_id"] = before
            sql = (f"SELECT {_COLUMNS} FROM jobs WHERE {where} "
                   "ORDER BY created_at DESC, id DESC LIMIT :limit")  # fmt: skip
            return [_row(r) for r in q.all(sql, args)]

        return await self._read(job)

    async def start(self, job_id: str, now: int) -> bool:
        """queued -> running; False when the job is no longer queued (cancelled)."""
        sql = """UPDATE jobs SET status = 'running', heartbeat_at = :now
                 WHERE id = :id AND status = 'queued'"""
        return await self._write(lambda q: q.run(sql, {"id": job_id, "now": now})) == 1

    async def progress(self, job_id: str, done: int, total: int | None, now: int) -> bool:
        """Record progress (and a heartbeat); False when the job is no longer running (it was
        cancelled, or given up as lost): the runner should stop."""
        sql = """UPDATE jobs SET done = :done, total = :total, heartbeat_at = :now
                 WHERE id = :id AND status = 'running'"""
        args = {"id": job_id, "done": done, "total": total, "now": now}
        return await self._write(lambda q: q.run(sql, args)) == 1

    async def finish(
        self,
        job_id: str,
        status: str,
        now: int,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        expires_at: int | None = None,
    ) -> bool:
        """running (or queued) -> `status`, with a result or an error; False when the job
        had already finished (a cancel came first)."""
        args = {"id": job_id, "status": status, "now": now, "error": error,
                "result": None if result is None else json.dumps(result),
                "expires": expires_at}  # fmt: skip
        sql = """UPDATE jobs SET status = :status, result = :result, error = :error,
                 heartbeat_at = :now, expires_at = COALESCE(:expires, expires_at)
                 WHERE id = :id AND status IN ('queued', 'running')"""
        return await self._write(lambda q: q.run(sql, args)) == 1

    async def cancel(self, workspace_id: str, job_id: str, now: int) -> bool:
        """queued or running -> cancelled, deleting what an export had written; False when
        the job had already finished."""

        def job(q: Q) -> bool:
            sql = """UPDATE jobs SET status = 'cancelled', heartbeat_at = :now
                     WHERE workspace_id = :ws AND id = :id AND status IN ('queued', 'running')"""
            if q.run(sql, {"ws": workspace_id, "id": job_id, "now": now}) != 1:
                return False
            q.run("DELETE FROM export_parts WHERE job_id = :id", {"id": job_id})
            return True

        return await self._write(job)

    async def get_any(self, job_id: str) -> JobRow | None:
        """A job by id alone (its runner knows it is its own)."""
        row = await self._read(
            lambda q: q.one(f"SELECT {_COLUMNS} FROM jobs WHERE id = :id", {"id": job_id})
        )
        return None if row is None else _row(row)

    async def cancel_any(self, job_id: str, now: int) -> None:
        """Cancelled, by its runner (its task was cancelled): as `cancel`, by id alone."""
        row = await self.get_any(job_id)
        if row is not None:
            await self.cancel(row.workspace_id, job_id, now)

    async def give_up_lost(self, stale_before: int, now: int) -> int:
        """Mark failed the queued or running jobs whose heartbeat is older than
        `stale_before` (their process went away); the number marked."""
        sql = """UPDATE jobs SET status = 'failed', heartbeat_at = :now,
                 error = 'the server running this job stopped before it finished; start it again'
                 WHERE status IN ('queued', 'running') AND heartbeat_at < :stale"""
        return await self._write(lambda q: q.run(sql, {"stale": stale_before, "now": now}))

    async def add_part(self, job_id: str, seq: int, data: str) -> None:
        sql = "INSERT INTO export_parts (job_id, seq, data) VALUES (:id, :seq, :data)"
        await self._write(lambda q: q.run(sql, {"id": job_id, "seq": seq, "data": data}))

    async def parts(self, job_id: str) -> list[str]:
        """An export's file, part by part, in order."""
        sql = "SELECT data FROM export_parts WHERE job_id = :id ORDER BY seq"
        rows = await self._read(lambda q: q.all(sql, {"id": job_id}))
        return [str(r[0]) for r in rows]

    async def purge(self, now: int) -> int:
        """Delete jobs (and their files) that have expired; the number deleted."""

        def job(q: Q) -> int:
            args = {"now": now}
            q.run(
                "DELETE FROM export_parts WHERE job_id IN "
                "(SELECT id FROM jobs WHERE expires_at <= :now)",
                args,
            )
            return q.run("DELETE FROM jobs WHERE expires_at <= :now", args)

        return await self._write(job)
