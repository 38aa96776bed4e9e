"""/keys: the workspace's API keys, for a key holding keys:write."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request

from clypt_mcp.errors import InsufficientScopeError, InvalidInputError, NotFoundError
from clypt_mcp.http.api.body import rest_body
from clypt_mcp.http.api.endpoint import BODY_ERRORS, Endpoint, path_id
from clypt_mcp.http.api.params import no_params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    Principal,
    Scope,
    expand_scopes,
)


class KeyList(BaseModel):
    """Every key of the workspace, revoked ones included (see revokedAt); never a secret."""

    keys: list[ApiKey]


class KeyInfo(BaseModel):
    """The key making the request: its workspace and scopes (implied ones included)."""

    workspace: str
    key_id: str | None
    scopes: list[Scope]
    base_url: str


def check_grant(principal: Principal, data: ApiKeyCreate) -> None:
    """A key cannot hand out scopes it does not hold itself.

    Raises:
        InsufficientScopeError: naming the scopes it lacks.
    """
    missing = sorted(s.value for s in set(data.scopes) - expand_scopes(principal.scopes))
    if missing:
        raise InsufficientScopeError(
            f"scopes: this key cannot grant {', '.join(missing)}, which it does not hold — "
            "ask for fewer scopes, or create the key with `clypt-mcp keys create`",
            scope=missing[0],
        )


def endpoints(state: AppState) -> list[Endpoint]:
    service = state.service

    async def list_keys(request: Request, principal: Principal) -> KeyList:
        no_params(request)
        return KeyList(keys=await service.list_api_keys(principal.workspace_id))

    async def own_key(principal: Principal) -> ApiKey | None:
        keys = await service.list_api_keys(principal.workspace_id)
        return next((k for k in keys if k.id == principal.key_id), None)

    async def create_key(request: Request, principal: Principal) -> ApiKeyCreated:
        no_params(request)
        data = await rest_body(request, ApiKeyCreate)
        check_grant(principal, data)
        parent = await own_key(principal)
        if parent is not None and parent.allow_ips and data.allow_ips is None:
            # a key made by a key limited to some addresses is limited the same way
            data = data.model_copy(update={"allow_ips": parent.allow_ips})
        if parent is not None and parent.expires_at is not None:
            if data.expires_at is None:  # a key made by a key never outlives it
                data = data.model_copy(update={"expires_at": parent.expires_at})
            elif data.expires_at > parent.expires_at:
                raise InvalidInputError(
                    f"expires_at: this key expires at {parent.expires_at.isoformat()} and cannot "
                    "make a key that outlives it — give an earlier expires_at, or omit it",
                    field="expires_at",
                )
        return await service.create_api_key(principal.workspace_id, data)

    async def get_key(request: Request, principal: Principal) -> ApiKey:
        no_params(request)
        key_id = path_id(request)
        for key in await service.list_api_keys(principal.workspace_id):
            if key.id == key_id:
                return key
        raise NotFoundError(f"no key '{key_id}' in this workspace — see GET /keys", key=key_id)

    async def revoke_key(request: Request, principal: Principal) -> ApiKey:
        no_params(request)
        key_id = path_id(request)
        target = next(
            (k for k in await service.list_api_keys(principal.workspace_id) if k.id == key_id),
            None,
        )
        if target is not None:
            missing = sorted(
                s.value for s in expand_scopes(frozenset(target.scopes))
                - expand_scopes(principal.scopes)
            )  # fmt: skip
            if missing:
                raise InsufficientScopeError(
                    f"this key cannot revoke key '{key_id}': it holds {', '.join(missing)}, "
                    "which this key does not — revoke it with a key that has every scope it has, "
                    "or with `clypt-mcp keys revoke`",
                    scope=missing[0],
                )
        await service.revoke_api_key(principal.workspace_id, key_id)
        for key in await service.list_api_keys(principal.workspace_id):
            if key.id == key_id:
                return key
        raise NotFoundError(f"no key '{key_id}' in this workspace", key=key_id)

    async def me(request: Request, principal: Principal) -> KeyInfo:
        no_params(request)
        return KeyInfo(
            workspace=principal.workspace_id,
            key_id=principal.key_id,
            scopes=sorted(expand_scopes(principal.scopes)),
            base_url=service.base_url,
        )

    admin = Scope.KEYS_WRITE
    return [
        Endpoint(
            "GET",
            "/me",
            "Who this key is",
            me,
            None,
            KeyInfo,
            description="The workspace and scopes of the calling key (any valid key may ask), "
            "so a client can offer only what the key allows.",
        ),
        Endpoint(
            "GET",
            "/keys",
            "List the workspace's API keys",
            list_keys,
            admin,
            KeyList,
        ),
        Endpoint(
            "POST",
            "/keys",
            "Create an API key",
            create_key,
            admin,
            ApiKeyCreated,
            status=201,
            body=ApiKeyCreate,
            errors=BODY_ERRORS,
            keeps_secret=True,
            description="Answers the secret this once; only its hash is kept. At most 10 "
            "active keys per workspace (409 beyond). A key grants at most its own scopes. "
            "Retrying with the same Idempotency-Key answers 409 naming the key already made, "
            "since the secret is never stored.",
        ),
        Endpoint(
            "GET",
            "/keys/{id}",
            "Get one API key",
            get_key,
            admin,
            ApiKey,
            errors=(404,),
            description="Its name, prefix, scopes and times; never the secret.",
        ),
        Endpoint(
            "DELETE",
            "/keys/{id}",
            "Revoke an API key",
            revoke_key,
            admin,
            ApiKey,
            errors=(404,),
            description="Answers the revoked key (revokedAt set). An already revoked key, or "
            "another workspace's, is a 404.",
        ),
    ]
