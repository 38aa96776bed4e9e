"""/apps: the assistants connected to the workspace by OAuth, for a key holding keys:write."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from clypt_mcp.errors import NotFoundError
from clypt_mcp.http.api.endpoint import Endpoint, path_id
from clypt_mcp.http.api.params import no_params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import Principal, Scope
from clypt_mcp.store.base import from_us
from clypt_mcp.store.oauth import GrantRecord


class App(BaseModel):
    """One approved client: approving it again updates this entry."""

    id: str
    client_id: str
    client_name: str
    redirect_host: str
    scopes: list[str]
    status: str
    created_at: datetime | None
    last_used_at: datetime | None


class AppList(BaseModel):
    apps: list[App]


def app_model(grant: GrantRecord) -> App:
    return App(
        id=grant.id,
        client_id=grant.client_id,
        client_name=grant.client_name,
        redirect_host=grant.redirect_host,
        scopes=grant.scopes,
        status="revoked" if grant.revoked_at is not None else "active",
        created_at=from_us(grant.created_at),
        last_used_at=from_us(grant.last_used_at),
    )


def endpoints(state: AppState) -> list[Endpoint]:
    store = state.store.oauth

    async def list_apps(request: Request, principal: Principal) -> AppList:
        no_params(request)
        grants = await store.list_grants(principal.workspace_id)
        return AppList(apps=[app_model(g) for g in grants])

    async def revoke_app(request: Request, principal: Principal) -> Response:
        no_params(request)
        app_id = path_id(request)
        now = int(state.service.clock().timestamp() * 1_000_000)
        if not await store.revoke_grant(principal.workspace_id, app_id, now):
            raise NotFoundError(f"no active app '{app_id}' in this workspace", key=app_id)
        return Response(status_code=204)

    admin = Scope.KEYS_WRITE
    return [
        Endpoint(
            "GET",
            "/apps",
            "List the apps connected by OAuth",
            list_apps,
            admin,
            AppList,
            description="One entry per client a person approved on the consent page; revoked "
            "ones stay with status revoked.",
        ),
        Endpoint(
            "DELETE",
            "/apps/{id}",
            "Disconnect an app",
            revoke_app,
            admin,
            None,
            status=204,
            errors=(404,),
            description="Revokes the grant and every token issued under it (204). An unknown "
            "id, an already revoked app or another workspace's is a 404.",
        ),
    ]
