"""Domains of workspaces on either database (#14), and links looked up by domain and code.

A name may be pending in several workspaces, but verified in one only (a partial unique index
says so); a workspace has at most one default (another). Links point at their domain by id;
NULL is the server's own host, so links made before domains existed stay where they were.
"""

from __future__ import annotations

from typing import Any

from clypt_mcp.errors import ConflictError
from clypt_mcp.store.base import DomainRecord, LinkRecord, from_us, to_us
from clypt_mcp.store.rows import LINK_SELECT
from clypt_mcp.store.sql import Aggregate, Q

_COLUMNS = "d.id, d.workspace_id, d.name, d.token, d.is_default, d.created_at, d.verified_at"
_WITH_LINKS = f"""SELECT {_COLUMNS}, (SELECT COUNT(*) FROM links l WHERE l.domain_id = d.id)
                    FROM domains d"""


def _record(row: Any) -> DomainRecord:
    created = from_us(row[5])
    assert created is not None
    return DomainRecord(
        id=row[0],
        workspace_id=row[1],
        name=row[2],
        token=row[3],
        is_default=bool(row[4]),
        created_at=created,
        verified_at=from_us(row[6]),
        links=int(row[7]),
    )


def verified_elsewhere(name: str) -> ConflictError:
    return ConflictError(
        f"domain '{name}' is already verified by another workspace — a domain serves one "
        "workspace only; its owner must remove it there first",
        field="domain",
    )


class Domains(Aggregate):
    async def list_domains(self, workspace_id: str) -> list[DomainRecord]:
        rows = await self._read(
            lambda q: q.all(
                f"{_WITH_LINKS} WHERE d.workspace_id = :ws ORDER BY d.name", {"ws": workspace_id}
            )
        )
        return [_record(r) for r in rows]

    async def get_domain(
        self, workspace_id: str | None, *, domain_id: str | None = None, name: str | None = None
    ) -> DomainRecord | None:
        args: dict[str, Any] = {"key": domain_id if domain_id is not None else name}
        if domain_id is not None:
            where = "d.id = :key"
        elif name is not None:
            where = "d.name = :key"
        else:  # the workspace's default
            where = "d.is_default = 1"
        if workspace_id is not None:
            where += " AND d.workspace_id = :ws"
            args["ws"] = workspace_id
        elif name is not None:
            where += " AND d.verified_at IS NOT NULL"
        else:
            raise ValueError("a default is a workspace's")
        row = await self._read(lambda q: q.one(f"{_WITH_LINKS} WHERE {where}", args))
        return _record(row) if row is not None else None

    async def insert_domain(self, record: DomainRecord) -> None:
        args = {
            "id": record.id,
            "ws": record.workspace_id,
            "name": record.name,
            "token": record.token,
            "default": int(record.is_default),
            "created": to_us(record.created_at),
            "verified": to_us(record.verified_at),
        }

        def job(q: Q) -> None:
            mine = q.scalar(
                "SELECT COUNT(*) FROM domains WHERE workspace_id = :ws AND name = :name", args
            )
            if mine:
                raise ConflictError(
                    f"domain '{record.name}' is already a domain of this workspace", field="domain"
                )
            if record.is_default:
                q.run("UPDATE domains SET is_default = 0 WHERE workspace_id = :ws", args)
            q.unique(
                """INSERT INTO domains (id, workspace_id, name, token, is_default, created_at,
                       verified_at) VALUES (:id, :ws, :name, :token, :default, :created,
                       :verified)""",
                args,
                verified_elsewhere(record.name),
            )

        await self._write(job)

    async def verify_domain(self, workspace_id: str, domain_id: str, now: Any) -> None:
        args = {"ws": workspace_id, "id": domain_id, "now": to_us(now)}

        def job(q: Q) -> None:
            name = q.scalar("SELECT name FROM domains WHERE id = :id AND workspace_id = :ws", args)
            q.unique(
                "UPDATE domains SET verified_at = :now WHERE id = :id AND workspace_id = :ws "
                "AND verified_at IS NULL",
                args,
                verified_elsewhere(str(name)),
            )

        await self._write(job)

    async def set_default_domain(self, workspace_id: str, domain_id: str | None) -> None:
        args = {"ws": workspace_id, "id": domain_id}

        def job(q: Q) -> None:
            q.run("UPDATE domains SET is_default = 0 WHERE workspace_id = :ws", args)
            if domain_id is not None:
                q.run(
                    "UPDATE domains SET is_default = 1 WHERE id = :id AND workspace_id = :ws", args
                )

        await self._write(job)

    async def delete_domain(self, workspace_id: str, domain_id: str) -> int:
        args = {"ws": workspace_id, "id": domain_id}

        def job(q: Q) -> int:
            # PostgreSQL: a link inserted on this domain meanwhile waits for (or beats) this
            # lock, so the count below cannot miss it; SQLite's write already holds everything.
            lock = " FOR UPDATE" if q.d.name == "postgres" else ""
            q.one(f"SELECT id FROM domains WHERE id = :id AND workspace_id = :ws{lock}", args)
            used = int(q.scalar("SELECT COUNT(*) FROM links WHERE domain_id = :id", args))
            if used:
                return used
            q.run("DELETE FROM domains WHERE id = :id AND workspace_id = :ws", args)
            return 0

        return await self._write(job)

    async def links_with_code(self, workspace_id: str, code: str) -> list[LinkRecord]:
        from clypt_mcp.store.links import hydrate

        args = {"ws": workspace_id, "code": code}
        return await self._read(
            lambda q: hydrate(
                q,
                q.all(
                    f"SELECT {LINK_SELECT} FROM links l WHERE l.workspace_id = :ws "
                    "AND l.code = :code ORDER BY COALESCE(l.domain_id, ''), l.id",
                    args,
                ),
            )
        )

    async def any_verified_domain(self) -> bool:
        return bool(
            await self._read(
                lambda q: q.scalar("SELECT 1 FROM domains WHERE verified_at IS NOT NULL LIMIT 1")
            )
        )

    async def link_on_domain(self, domain_id: str | None, code: str) -> LinkRecord | None:
        from clypt_mcp.store.links import hydrate

        args = {"dom": domain_id or "", "code": code}

        def job(q: Q) -> LinkRecord | None:
            rows = q.all(
                f"SELECT {LINK_SELECT} FROM links l "
                "WHERE COALESCE(l.domain_id, '') = :dom AND l.code = :code",
                args,
            )
            records = hydrate(q, rows)
            return records[0] if records else None

        return await self._read(job)
