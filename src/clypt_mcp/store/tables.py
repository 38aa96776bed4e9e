"""The store as a whole on either database: workspaces, status counts, table dumps and loads
for `db copy`; and `SqlStore`, every aggregate over one `Db`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from clypt_mcp.errors import ConflictError
from clypt_mcp.store.base import TABLES, table_spec, to_us
from clypt_mcp.store.clicks import Clicks
from clypt_mcp.store.conversions import Conversions
from clypt_mcp.store.domains import Domains
from clypt_mcp.store.guards import Guards
from clypt_mcp.store.jobs import Jobs
from clypt_mcp.store.keys import Keys
from clypt_mcp.store.links import Links
from clypt_mcp.store.oauth import OAuthStore
from clypt_mcp.store.organise import Organise
from clypt_mcp.store.sql import Aggregate, Db, Q
from clypt_mcp.store.team import TeamStore
from clypt_mcp.store.web_sessions import WebSessions
from clypt_mcp.store.webhooks import Webhooks


class Tables(Aggregate):
    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def ensure_workspace(self, workspace_id: str, now: datetime) -> None:
        await self._write(
            lambda q: q.run(
                "INSERT INTO workspaces (id, created_at) VALUES (:id, :now) ON CONFLICT DO NOTHING",
                {"id": workspace_id, "now": to_us(now)},
            )
        )

    async def count_links(self) -> int:
        return int(await self._read(lambda q: q.scalar("SELECT COUNT(*) FROM links")))

    async def schema_version(self) -> int:
        return int(await self._read(lambda q: q.scalar("SELECT MAX(version) FROM schema_version")))

    async def count_rows(self, table: str) -> int:
        table_spec(table)
        return int(await self._read(lambda q: q.scalar(f"SELECT COUNT(*) FROM {table}")))

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
        rows = await self._read(lambda q: q.all(sql, [*args, limit]))
        return [tuple(r) for r in rows]

    async def load_rows(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        columns, _ = table_spec(table)
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"

        def job(q: Q) -> None:
            try:
                q.many(sql, rows)
            except Exception as exc:
                if q.d.is_unique_violation(exc):
                    raise ConflictError(f"{table}: a copied row is already there") from exc
                raise

        await self._write(job)

    async def clear_all(self) -> None:
        def job(q: Q) -> None:
            q.run("UPDATE folders SET parent_id = NULL")  # parents are RESTRICTed
            for table in ("set_days", *reversed(TABLES)):
                q.run(f"DELETE FROM {table}")

        await self._write(job)

    async def links_with_codes(self, codes: list[str]) -> list[tuple[str, str]]:
        """`(workspace, code)` of the links not deleted whose code is one of `codes` (lower
        case) in any letter case, by workspace and code."""

        def job(q: Q) -> list[tuple[str, str]]:
            args: dict[str, Any] = {}
            among = q.d.in_list("lower(code)", "codes", codes, args)
            rows = q.all(
                f"SELECT workspace_id, code FROM links WHERE {among} AND deleted_at IS NULL "
                "ORDER BY workspace_id, code",
                args,
            )
            return [(str(r[0]), str(r[1])) for r in rows]

        return await self._read(job)


class SqlStore(Links, Organise, Clicks, Conversions, Keys, Guards, Domains, Tables):
    """The Store over one `Db`: what both SqliteStore and PostgresStore are. Aggregates with
    methods of their own names (OAuth, dashboard sessions, jobs) are attributes on the same `Db`."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.oauth = OAuthStore(db)
        self.web_sessions = WebSessions(db)
        self.jobs = Jobs(db)
        self.webhooks = Webhooks(db)
        self.team = TeamStore(db)
