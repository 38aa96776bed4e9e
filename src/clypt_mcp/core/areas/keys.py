"""API keys: create, list, revoke, and authenticate a secret."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from clypt_mcp.core.areas.base import ServiceBase
from clypt_mcp.errors import (
    AuthenticationError,
    ConflictError,
    InsufficientScopeError,
    InvalidInputError,
    IpNotAllowedError,
    KeyExpiredError,
    KeyRevokedError,
    NotFoundError,
)
from clypt_mcp.models import (
    MAX_ACTIVE_KEYS,
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    Principal,
    Scope,
    expand_scopes,
    ip_allowed,
    new_id,
)
from clypt_mcp.store.base import KeyRecord

KEY_PREFIX = "clypt_"
KEY_TOUCH_EVERY = timedelta(minutes=1)  # a key's last use is written at most this often


class KeysArea(ServiceBase):
    """API keys: create, list, revoke, and authenticate a secret."""

    async def create_api_key(
        self, workspace_id: str, data: ApiKeyCreate, parent_id: str | None = None
    ) -> ApiKeyCreated:
        """An admin act (CLI, or a key with keys:write, `parent_id`): returns the secret once.

        Raises: ConflictError when the workspace has 10 active keys.
        """
        await self._workspace(Principal(workspace_id=workspace_id))
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        if data.expires_at is not None and data.expires_at <= now:
            raise InvalidInputError("expires_at must be in the future", field="expires_at")
        rec = KeyRecord(
            id=new_id("key"),
            workspace_id=workspace_id,
            name=data.name,
            prefix=secret[:12],
            scopes=sorted({s.value for s in data.scopes}),
            created_at=now,
            expires_at=data.expires_at,
            allow_ips=data.allow_ips,
            parent_id=parent_id,
        )
        if not await self.store.insert_key(rec, _key_hash(secret), MAX_ACTIVE_KEYS):
            raise ConflictError(
                f"workspace '{workspace_id}' already has {MAX_ACTIVE_KEYS} active keys — "
                "revoke one first",
                field="keys",
            )
        return ApiKeyCreated(**_api_key(rec).model_dump(), secret=secret)

    async def create_api_key_as(self, maker: Principal, data: ApiKeyCreate) -> ApiKeyCreated:
        """A key made by a key (REST, the dashboard), which cannot escalate: it holds no scope
        its maker lacks, expires no later than its maker (its maker's expiry when none is
        given), is limited to its maker's addresses unless it names its own, and is revoked
        with its maker.

        Raises: InsufficientScopeError, InvalidInputError, ConflictError.
        """
        missing = sorted(s.value for s in set(data.scopes) - expand_scopes(maker.scopes))
        if missing:
            raise InsufficientScopeError(
                f"scopes: this key cannot grant {', '.join(missing)}, which it does not hold — "
                "ask for fewer scopes, or create the key with `clypt-mcp keys create`",
                scope=missing[0],
            )
        parent = await self._own_key(maker)
        if parent is not None and parent.allow_ips and data.allow_ips is None:
            data = data.model_copy(update={"allow_ips": parent.allow_ips})
        if parent is not None and parent.expires_at is not None:
            if data.expires_at is None:
                data = data.model_copy(update={"expires_at": parent.expires_at})
            elif data.expires_at > parent.expires_at:
                raise InvalidInputError(
                    f"expires_at: this key expires at {parent.expires_at.isoformat()} and cannot "
                    "make a key that outlives it — give an earlier expires_at, or omit it",
                    field="expires_at",
                )
        return await self.create_api_key(
            maker.workspace_id, data, parent.id if parent is not None else None
        )

    async def revoke_api_key_as(self, revoker: Principal, key_id: str) -> None:
        """Revoke a key of the revoker's workspace, which needs every scope that key holds.

        Raises: InsufficientScopeError, NotFoundError.
        """
        keys = await self.store.list_keys(revoker.workspace_id)
        target = next((k for k in keys if k.id == key_id), None)
        if target is not None:
            held = expand_scopes(frozenset(Scope(s) for s in target.scopes))
            missing = sorted(s.value for s in held - expand_scopes(revoker.scopes))
            if missing:
                raise InsufficientScopeError(
                    f"this key cannot revoke key '{key_id}': it holds {', '.join(missing)}, "
                    "which this key does not — revoke it with a key that has every scope it has, "
                    "or with `clypt-mcp keys revoke`",
                    scope=missing[0],
                )
        await self.revoke_api_key(revoker.workspace_id, key_id)

    async def _own_key(self, principal: Principal) -> KeyRecord | None:
        if principal.key_id is None:
            return None
        keys = await self.store.list_keys(principal.workspace_id)
        return next((k for k in keys if k.id == principal.key_id), None)

    async def list_api_keys(self, workspace_id: str | None) -> list[ApiKey]:
        now = self.clock()
        return [
            _api_key(r).model_copy(
                update={"expired": r.expires_at is not None and r.expires_at <= now}
            )
            for r in await self.store.list_keys(workspace_id)
        ]

    async def revoke_api_key(self, workspace_id: str | None, key_id: str) -> None:
        """Revoke a key and the keys it made (and theirs).

        Raises: NotFoundError."""
        if not await self.store.revoke_key(workspace_id, key_id, self.clock()):
            raise NotFoundError(f"no active key '{key_id}'", key=key_id)

    async def authenticate(self, secret: str, client: str | None = None) -> Principal:
        """The Principal of an API key used from the client address `client` (after trusted
        proxies; None when unknown, which a key with an allow-list refuses).

        Raises: AuthenticationError, IpNotAllowedError.
        """
        rec = (
            await self.store.find_key(_key_hash(secret)) if secret.startswith(KEY_PREFIX) else None
        )
        now = self.clock()
        if rec is None:
            raise AuthenticationError("unknown API key — check Authorization: Bearer")
        if rec.revoked_at is not None:
            raise KeyRevokedError(
                "this API key was revoked — ask the workspace's admin for a new one "
                "(`clypt-mcp keys create`)"
            )
        if rec.expires_at is not None and rec.expires_at <= now:
            raise KeyExpiredError(
                f"this API key expired at {rec.expires_at.isoformat()} — create a new one "
                "(`clypt-mcp keys create --expires …`, or POST /api/v1/keys with another key)"
            )
        if rec.allow_ips and not ip_allowed(client, rec.allow_ips):
            raise IpNotAllowedError(
                f"this API key works only from {', '.join(rec.allow_ips)}, and this request "
                f"comes from {client or 'an unknown address'} — use it from an allowed address, "
                "or create a key for this one (`clypt-mcp keys create --allow-ip …`)"
            )
        if rec.last_used_at is None or now - rec.last_used_at > KEY_TOUCH_EVERY:
            await self.store.touch_key(rec.id, now)  # at most a write a minute per key
        scopes = frozenset(Scope(s) for s in rec.scopes)
        return Principal(workspace_id=rec.workspace_id, key_id=rec.id, scopes=scopes)


def _key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _api_key(rec: KeyRecord) -> ApiKey:
    return ApiKey(
        id=rec.id,
        name=rec.name,
        prefix=rec.prefix,
        scopes=[Scope(s) for s in rec.scopes],
        workspace=rec.workspace_id,
        created_at=rec.created_at,
        expires_at=rec.expires_at,
        revoked_at=rec.revoked_at,
        last_used_at=rec.last_used_at,
        allow_ips=rec.allow_ips,
    )
