"""A team server's tables (#14 items 5 and 6, migration 0012) on either database: the limits an
operator sets per workspace, the API calls counted against them, and guest links.

An aggregate on the store's `Db` (`store.team`). Links and clicks are counted where they live
(`links`, `clicks`); only API calls have a counter of their own.
"""

from __future__ import annotations

from clypt_mcp.store.base import Limits
from clypt_mcp.store.sql import Aggregate, Db, Q


class TeamStore(Aggregate):
    def __init__(self, db: Db) -> None:
        self.db = db

    # --- limits and use ------------------------------------------------------------------

    async def limits(self, workspace_id: str) -> Limits:
        row = await self._read(
            lambda q: q.one(
                "SELECT max_links, clicks_per_month, api_calls_per_day FROM workspace_limits "
                "WHERE workspace_id = :ws",
                {"ws": workspace_id},
            )
        )
        return Limits(*row) if row else Limits()

    async def set_limits(self, workspace_id: str, limits: Limits, now_us: int) -> None:
        """Store `limits` as the workspace's (the workspace is made when missing)."""
        args = {"ws": workspace_id, "links": limits.links, "clicks": limits.clicks_per_month,
                "calls": limits.api_calls_per_day, "now": now_us}  # fmt: skip

        def job(q: Q) -> None:
            q.run(
                "INSERT INTO workspaces (id, created_at) VALUES (:ws, :now) ON CONFLICT DO NOTHING",
                args,
            )
            q.run(
                """INSERT INTO workspace_limits (workspace_id, max_links, clicks_per_month,
                       api_calls_per_day, updated_at) VALUES (:ws, :links, :clicks, :calls, :now)
                   ON CONFLICT (workspace_id) DO UPDATE SET max_links = excluded.max_links,
                       clicks_per_month = excluded.clicks_per_month,
                       api_calls_per_day = excluded.api_calls_per_day,
                       updated_at = excluded.updated_at""",
                args,
            )

        await self._write(job)

    async def live_links(self, workspace_id: str) -> int:
        """Links of the workspace, soft-deleted ones too (they can be restored): only a
        permanent delete frees a place."""
        return int(
            await self._read(
                lambda q: q.scalar(
                    "SELECT COUNT(*) FROM links WHERE workspace_id = :ws", {"ws": workspace_id}
                )
            )
        )

    async def clicks_since(self, workspace_id: str, since: int) -> int:
        """Clicks (people: traffic human or qr) of the workspace from `since` (seconds) on."""
        return int(
            await self._read(
                lambda q: q.scalar(
                    "SELECT COUNT(*) FROM clicks WHERE workspace_id = :ws AND ts >= :since "
                    "AND bot = 0",
                    {"ws": workspace_id, "since": since},
                )
            )
        )

    async def count_api_call(self, workspace_id: str, day: int, limit: int | None) -> int | None:
        """Count one API call of the day starting at `day` (seconds); the day's count, or None
        (nothing counted) when `limit` calls were made already."""

        def job(q: Q) -> int | None:
            args = {"ws": workspace_id, "day": day}
            used = q.scalar(
                "SELECT count FROM usage_counts WHERE workspace_id = :ws "
                "AND metric = 'api_calls' AND period = :day" + q.d.lock_rows,
                args,
            )
            if limit is not None and (used or 0) >= limit:
                return None
            q.run(
                """INSERT INTO usage_counts (workspace_id, metric, period, count)
                   VALUES (:ws, 'api_calls', :day, 1)
                   ON CONFLICT (workspace_id, metric, period)
                   DO UPDATE SET count = usage_counts.count + 1""",
                args,
            )
            return int(used or 0) + 1

        return await self._write(job)

    async def api_calls(self, workspace_id: str, day: int) -> int:
        value = await self._read(
            lambda q: q.scalar(
                "SELECT count FROM usage_counts WHERE workspace_id = :ws "
                "AND metric = 'api_calls' AND period = :day",
                {"ws": workspace_id, "day": day},
            )
        )
        return int(value or 0)

    async def purge_usage(self, before: int) -> int:
        """Delete API call counters of days before `before` (seconds)."""
        return int(
            await self._write(
                lambda q: q.run("DELETE FROM usage_counts WHERE period < :t", {"t": before})
            )
        )

    # --- guest links ---------------------------------------------------------------------

    async def add_guest(self, link_id: str, client: str, now_us: int, expires_us: int) -> None:
        await self._write(
            lambda q: q.run(
                "INSERT INTO guest_links (link_id, client, created_at, expires_at) "
                "VALUES (:id, :client, :now, :expires)",
                {"id": link_id, "client": client, "now": now_us, "expires": expires_us},
            )
        )

    async def live_guests(self, now_us: int) -> int:
        return int(
            await self._read(
                lambda q: q.scalar(
                    "SELECT COUNT(*) FROM guest_links WHERE expires_at > :now", {"now": now_us}
                )
            )
        )

    async def purge_guests(self, now_us: int, limit: int) -> int:
        """Delete for good (clicks and all) up to `limit` guest links expired at `now_us`."""

        def job(q: Q) -> int:
            ids = [
                str(r[0])
                for r in q.all(
                    "SELECT link_id FROM guest_links WHERE expires_at <= :now "
                    "ORDER BY expires_at LIMIT :limit",
                    {"now": now_us, "limit": limit},
                )
            ]
            if not ids:
                return 0
            args: dict[str, object] = {}
            among = q.d.in_list("link_id", "ids", ids, args)
            q.run(f"DELETE FROM rollups WHERE {among}", args)
            keys = q.d.in_list("key", "ids", ids, args)
            q.run(f"DELETE FROM rollups WHERE link_id = '' AND dim = 'link' AND {keys}", args)
            q.run(f"DELETE FROM clicks WHERE {among}", args)
            q.run(f"DELETE FROM guest_links WHERE {among}", args)
            gone = q.d.in_list("id", "ids", ids, args)
            return int(q.run(f"DELETE FROM links WHERE {gone}", args))

        return await self._write(job)
