"""/keys: the workspace's API keys, for a key holding keys:write."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request

from clypt_mcp.errors import NotFoundError
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


def endpoints(state: AppState) -> list[Endpoint]:
    service = state.service

    async def list_keys(request: Request, principal: Principal) -> KeyList:
        no_params(request)
        return KeyList(keys=await service.list_api_keys(principal.workspace_id))

    async def create_key(request: Request, principal: Principal) -> ApiKeyCreated:
        no_params(request)
        data = await rest_body(request, ApiKeyCreate)
        return await service.create_api_key_as(principal, data)

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
        await service.revoke_api_key_as(principal, key_id)
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
