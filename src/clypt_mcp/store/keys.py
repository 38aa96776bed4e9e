"""API keys and the install's secrets on either database."""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any

from clypt_mcp.store.base import TABLES, VISITOR_SECRET_BYTES, KeyRecord, from_us, to_us
from clypt_mcp.store.rows import from_us_req
from clypt_mcp.store.sql import Aggregate, Q

_KEY_FIELDS = TABLES["api_keys"][0]
_KEY_COLUMNS = ", ".join(_KEY_FIELDS)


class Keys(Aggregate):
    async def insert_key(self, record: KeyRecord, key_hash: str, max_active: int) -> bool:
        now = to_us(record.created_at)
        args = {"id": record.id, "ws": record.workspace_id, "name": record.name,
                "prefix": record.prefix, "hash": key_hash, "scopes": ",".join(record.scopes),
                "now": now, "expires": to_us(record.expires_at),
                "allow": ",".join(record.allow_ips) if record.allow_ips else None,
                "parent": record.parent_id}  # fmt: skip

        def job(q: Q) -> bool:
            self._lock_keys(q, record.workspace_id)  # one creator per workspace at a time
            active = q.scalar(
                """SELECT COUNT(*) FROM api_keys WHERE workspace_id = :ws AND revoked_at IS NULL
                       AND (expires_at IS NULL OR expires_at > :now)""",
                args,
            )
            if active >= max_active:
                return False
            q.run(
                f"""INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (:id, :ws, :name, :prefix,
                    :hash, :scopes, :now, :expires, NULL, NULL, :allow, :parent)""",
                args,
            )
            return True

        return await self._write(job)

    def _lock_keys(self, q: Q, workspace_id: str) -> None:
        """Serialise key creation in a workspace (SQLite's write transaction already does)."""

    async def list_keys(self, workspace_id: str | None) -> list[KeyRecord]:
        sql = f"SELECT {_KEY_COLUMNS} FROM api_keys"
        if workspace_id is not None:
            sql += " WHERE workspace_id = :ws"
        sql += " ORDER BY created_at, id"
        rows = await self._read(lambda q: q.all(sql, {"ws": workspace_id}))
        return [_key_record(r) for r in rows]

    async def find_key(self, key_hash: str) -> KeyRecord | None:
        sql = f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE hash = :hash"
        row = await self._read(lambda q: q.one(sql, {"hash": key_hash}))
        return _key_record(row) if row else None

    async def revoke_key(self, workspace_id: str | None, key_id: str, now: datetime) -> bool:
        own = " AND workspace_id = :ws" if workspace_id is not None else ""
        family_sql = f"""WITH RECURSIVE family(id) AS (
                             SELECT id FROM api_keys WHERE id = :id{own}
                             UNION
                             SELECT k.id FROM api_keys k JOIN family f ON k.parent_id = f.id
                         ) SELECT id FROM family"""

        def job(q: Q) -> bool:
            family = [r[0] for r in q.all(family_sql, {"id": key_id, "ws": workspace_id})]
            if not family:
                return False
            args: dict[str, Any] = {"now": to_us(now)}
            ids = q.d.in_list("id", "ids", family, args)
            sql = f"UPDATE api_keys SET revoked_at = :now WHERE {ids} AND revoked_at IS NULL"
            return q.run(sql, args) > 0

        return await self._write(job)

    async def touch_key(self, key_id: str, now: datetime) -> None:
        sql = "UPDATE api_keys SET last_used_at = :now WHERE id = :id"
        await self._write(lambda q: q.run(sql, {"now": to_us(now), "id": key_id}))

    async def visitor_secret(self) -> bytes:
        def job(q: Q) -> bytes:
            value = q.scalar(_SECRET)
            if value is None:
                q.run(
                    """INSERT INTO secrets (name, value, created_at)
                       VALUES ('visitor', :value, :now) ON CONFLICT (name) DO NOTHING""",
                    {"value": self._new_visitor_secret(), "now": _now_us()},
                )
                value = q.scalar(_SECRET)  # ours, or what another process stored first
            return bytes(value)

        return await self._write(job)

    def _new_visitor_secret(self) -> bytes:
        return secrets.token_bytes(VISITOR_SECRET_BYTES)

    async def set_visitor_secret(self, secret: bytes) -> None:
        await self._write(
            lambda q: q.run(
                """INSERT INTO secrets (name, value, created_at) VALUES ('visitor', :value, :now)
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
                {"value": secret, "now": _now_us()},
            )
        )


_SECRET = "SELECT value FROM secrets WHERE name = 'visitor'"


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def _key_record(row: tuple[Any, ...]) -> KeyRecord:
    r = dict(zip(_KEY_FIELDS, row, strict=True))
    return KeyRecord(
        id=r["id"],
        workspace_id=r["workspace_id"],
        name=r["name"],
        prefix=r["prefix"],
        scopes=[s for s in r["scopes"].split(",") if s],
        created_at=from_us_req(r["created_at"]),
        expires_at=from_us(r["expires_at"]),
        revoked_at=from_us(r["revoked_at"]),
        last_used_at=from_us(r["last_used_at"]),
        allow_ips=r["allow_ips"].split(",") if r["allow_ips"] else None,
        parent_id=r["parent_id"],
    )
