"""What the OAuth authorization server keeps: clients, pending consents, grants, codes and
tokens, sign-in links (tables of migration 0007, the same on SQLite and PostgreSQL).

An aggregate on the store's `Db` (`store.oauth`): every step that must not race is one
conditional statement (`UPDATE … WHERE used_at IS NULL`), never a read followed by a write.
Callers pass hashes, never secrets: nothing here sees a token.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from clypt_mcp.store.sql import Aggregate, Db, Q


@dataclass(frozen=True)
class ClientRow:
    client_id: str
    info: str
    kind: str
    fetched_at: int


@dataclass(frozen=True)
class GrantRecord:
    id: str
    workspace_id: str
    client_id: str
    client_name: str
    redirect_host: str
    scopes: list[str]
    key_id: str | None
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


@dataclass(frozen=True)
class TokenRow:
    """A code or token with what decides whether it still counts: its grant and the key
    that approved the grant."""

    kind: str
    grant_id: str
    family: str
    client_id: str
    scopes: list[str]
    resource: str | None
    data: str | None
    expires_at: int
    used_at: int | None
    revoked_at: int | None
    workspace_id: str
    grant_revoked: bool
    key_usable_until: int | None  # the approving key's expiry (None: no expiry)
    key_revoked: bool  # the approving key is revoked or gone


def _scopes(text: str) -> list[str]:
    return [s for s in text.split(" ") if s]


_GRANT_COLUMNS = (
    "id, workspace_id, client_id, client_name, redirect_host, scopes, key_id, created_at, "
    "last_used_at, revoked_at"
)


def _grant(row: tuple[Any, ...]) -> GrantRecord:
    return GrantRecord(
        id=row[0],
        workspace_id=row[1],
        client_id=row[2],
        client_name=row[3],
        redirect_host=row[4],
        scopes=_scopes(row[5]),
        key_id=row[6],
        created_at=row[7],
        last_used_at=row[8],
        revoked_at=row[9],
    )


class OAuthStore(Aggregate):
    """The OAuth tables. Times are microseconds since the epoch."""

    def __init__(self, db: Db) -> None:
        self.db = db

    async def _exec(self, sql: str, args: Any = ()) -> int:
        """Run one write statement in its own transaction; the rows it changed."""
        return await self._write(lambda q: q.run(sql, args))

    async def _one(self, sql: str, args: Any = ()) -> tuple[Any, ...] | None:
        row = await self._read(lambda q: q.one(sql, args))
        return None if row is None else tuple(row)

    # --- clients ----------------------------------------------------------------------

    async def put_client(self, client_id: str, info: str, kind: str, now: int) -> None:
        await self._exec(
            """INSERT INTO oauth_clients (client_id, info, kind, created_at, fetched_at)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (client_id) DO UPDATE SET info = excluded.info,
                   fetched_at = excluded.fetched_at""",
            (client_id, info, kind, now, now),
        )

    async def get_client(self, client_id: str) -> ClientRow | None:
        row = await self._one(
            "SELECT client_id, info, kind, fetched_at FROM oauth_clients WHERE client_id = ?",
            (client_id,),
        )
        return ClientRow(*row) if row else None

    # --- authorization requests waiting for consent ----------------------------------

    async def put_request(
        self, handle_hash: str, client_id: str, params: str, expires: int
    ) -> None:
        await self._exec(
            "INSERT INTO oauth_requests (hash, client_id, params, expires_at) VALUES (?, ?, ?, ?)",
            (handle_hash, client_id, params, expires),
        )

    async def get_request(self, handle_hash: str, now: int) -> tuple[str, str] | None:
        row = await self._one(
            "SELECT client_id, params FROM oauth_requests WHERE hash = ? AND expires_at > ?",
            (handle_hash, now),
        )
        return (row[0], row[1]) if row else None

    async def take_request(self, handle_hash: str) -> bool:
        """Remove a pending request; False when another answer took it first."""
        return await self._exec("DELETE FROM oauth_requests WHERE hash = ?", (handle_hash,)) > 0

    # --- grants (connected apps) -------------------------------------------------------

    async def upsert_grant(self, grant: GrantRecord) -> str:
        """Record an approval; approving the same client again in the same workspace updates
        the one grant (and brings a revoked one back). Returns the grant's id."""
        insert = (
            """INSERT INTO oauth_grants (id, workspace_id, client_id, client_name, redirect_host,
                   scopes, key_id, created_at, last_used_at, revoked_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)
               ON CONFLICT (workspace_id, client_id) DO UPDATE SET
                   client_name = excluded.client_name, redirect_host = excluded.redirect_host,
                   scopes = excluded.scopes, key_id = excluded.key_id, revoked_at = NULL""",
            (
                grant.id,
                grant.workspace_id,
                grant.client_id,
                grant.client_name,
                grant.redirect_host,
                " ".join(grant.scopes),
                grant.key_id,
                grant.created_at,
            ),
        )

        def job(q: Q) -> str:
            q.run(*insert)
            return str(
                q.scalar(
                    "SELECT id FROM oauth_grants WHERE workspace_id = ? AND client_id = ?",
                    (grant.workspace_id, grant.client_id),
                )
            )

        return await self._write(job)

    async def list_grants(self, workspace_id: str | None) -> list[GrantRecord]:
        """Grants, oldest first; one whose approving key is revoked or gone counts as revoked
        (from the key's revocation, when known)."""
        columns = ", ".join(f"g.{c.strip()}" for c in _GRANT_COLUMNS.split(","))
        sql = (
            f"SELECT {columns}, g.key_id IS NOT NULL AND k.id IS NULL, k.revoked_at "
            "FROM oauth_grants g LEFT JOIN api_keys k ON k.id = g.key_id"
        )
        args: list[Any] = []
        if workspace_id is not None:
            sql += " WHERE g.workspace_id = ?"
            args.append(workspace_id)
        out = []
        for row in await self._read(lambda q: q.all(sql + " ORDER BY g.created_at, g.id", args)):
            grant = _grant(row[:10])
            if grant.revoked_at is None and (row[10] or row[11] is not None):
                grant = replace(grant, revoked_at=row[11] if row[11] is not None else 0)
            out.append(grant)
        return out

    async def revoke_grant(self, workspace_id: str | None, grant_id: str, now: int) -> bool:
        """Revoke a grant and everything issued under it; False when there is no such active
        grant (in that workspace)."""
        sql = "UPDATE oauth_grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
        args: list[Any] = [now, grant_id]
        if workspace_id is not None:
            sql += " AND workspace_id = ?"
            args.append(workspace_id)

        def job(q: Q) -> bool:
            if q.run(sql, args) == 0:
                return False
            q.run(
                "UPDATE oauth_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL",
                (now, grant_id),
            )
            return True

        return await self._write(job)

    async def touch_grant(self, grant_id: str, now: int, every: int) -> None:
        """Note a use, at most one write per `every` microseconds."""
        await self._exec(
            """UPDATE oauth_grants SET last_used_at = ?
               WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)""",
            (now, grant_id, now - every),
        )

    # --- codes and tokens ---------------------------------------------------------------

    async def insert_token(
        self,
        token_hash: str,
        kind: str,
        *,
        grant_id: str,
        family: str,
        client_id: str,
        scopes: list[str],
        resource: str | None,
        data: str | None,
        now: int,
        expires: int,
    ) -> None:
        await self._exec(
            """INSERT INTO oauth_tokens (hash, kind, grant_id, family, client_id, scopes,
                   resource, data, created_at, expires_at, used_at, revoked_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)""",
            (
                token_hash,
                kind,
                grant_id,
                family,
                client_id,
                " ".join(scopes),
                resource,
                data,
                now,
                expires,
            ),
        )

    async def token(self, token_hash: str, kind: str) -> TokenRow | None:
        row = await self._one(
            """SELECT t.kind, t.grant_id, t.family, t.client_id, t.scopes, t.resource, t.data,
                      t.expires_at, t.used_at, t.revoked_at, g.workspace_id, g.revoked_at,
                      g.key_id, k.id, k.revoked_at, k.expires_at
               FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id
               LEFT JOIN api_keys k ON k.id = g.key_id
               WHERE t.hash = ? AND t.kind = ?""",
            (token_hash, kind),
        )
        if row is None:
            return None
        key_id, key_found, key_revoked_at, key_expires_at = row[12], row[13], row[14], row[15]
        return TokenRow(
            kind=row[0],
            grant_id=row[1],
            family=row[2],
            client_id=row[3],
            scopes=_scopes(row[4]),
            resource=row[5],
            data=row[6],
            expires_at=row[7],
            used_at=row[8],
            revoked_at=row[9],
            workspace_id=row[10],
            grant_revoked=row[11] is not None,
            key_usable_until=key_expires_at,
            key_revoked=key_id is not None and (key_found is None or key_revoked_at is not None),
        )

    async def spend(self, token_hash: str, now: int) -> bool:
        """Mark a code or refresh token used; False when it was used or revoked already."""
        changed = await self._exec(
            """UPDATE oauth_tokens SET used_at = ?
               WHERE hash = ? AND used_at IS NULL AND revoked_at IS NULL""",
            (now, token_hash),
        )
        return changed > 0

    async def revoke_family(self, family: str, now: int) -> None:
        await self._exec(
            "UPDATE oauth_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
            (now, family),
        )

    # --- sign-in links --------------------------------------------------------------------

    async def insert_signin(
        self, link_hash: str, workspace_id: str, scopes: list[str], now: int, expires: int
    ) -> None:
        await self._exec(
            """INSERT INTO signin_links (hash, workspace_id, scopes, created_at, expires_at,
                   used_at) VALUES (?, ?, ?, ?, ?, NULL)""",
            (link_hash, workspace_id, " ".join(scopes), now, expires),
        )

    async def peek_signin(self, link_hash: str, now: int) -> tuple[str, list[str]] | None:
        """A sign-in link's (workspace, scopes) while it is unused and unexpired."""
        row = await self._one(
            """SELECT workspace_id, scopes FROM signin_links
               WHERE hash = ? AND used_at IS NULL AND expires_at > ?""",
            (link_hash, now),
        )
        return (row[0], _scopes(row[1])) if row else None

    async def use_signin(self, link_hash: str, now: int) -> tuple[str, list[str]] | None:
        """Spend a sign-in link: its (workspace, scopes) the first time, None after that or
        once it has expired."""

        def job(q: Q) -> Any:
            changed = q.run(
                """UPDATE signin_links SET used_at = ?
                   WHERE hash = ? AND used_at IS NULL AND expires_at > ?""",
                (now, link_hash, now),
            )
            if changed == 0:
                return None
            return q.one(
                "SELECT workspace_id, scopes FROM signin_links WHERE hash = ?", (link_hash,)
            )

        row = await self._write(job)
        return (row[0], _scopes(row[1])) if row else None

    # --- housekeeping -------------------------------------------------------------------

    async def purge(self, now: int) -> int:
        """Drop expired codes, tokens, pending requests and sign-in links."""

        def job(q: Q) -> int:
            tables = ("oauth_tokens", "oauth_requests", "signin_links")
            return sum(q.run(f"DELETE FROM {t} WHERE expires_at < ?", (now,)) for t in tables)

        return await self._write(job)
