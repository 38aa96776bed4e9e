"""Every REST endpoint in one table, objects to point its `{id}`s at, and a snapshot of data."""

from __future__ import annotations

from typing import Any

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ApiKeyCreate, ClickEvent, LinkCreate, LinkQuery, Principal, Scope
from clypt_mcp.store.oauth import GrantRecord

SEED_CLICK = "seedClickId0001"  # the click id of the seed link's one click, in each workspace

# (method, path with {link}/{tag}/{folder}/{key}, scope, a valid body, success status)
ENDPOINTS: list[tuple[str, str, Scope, dict[str, Any] | None, int]] = [
    ("GET", "/links", Scope.LINKS_READ, None, 200),
    ("POST", "/links", Scope.LINKS_WRITE, {"url": "https://example.com/new"}, 201),
    ("POST", "/links/bulk", Scope.LINKS_WRITE, {"links": [{"url": "https://example.com/b"}]}, 201),
    ("GET", "/links/{link}", Scope.LINKS_READ, None, 200),
    ("PATCH", "/links/{link}", Scope.LINKS_WRITE, {"title": "Changed"}, 200),
    ("DELETE", "/links/{link}", Scope.LINKS_WRITE, None, 200),
    ("GET", "/links/{link}/analytics", Scope.ANALYTICS_READ, None, 200),
    ("GET", "/links/{link}/qr", Scope.LINKS_READ, None, 200),
    ("GET", "/analytics", Scope.ANALYTICS_READ, None, 200),
    ("GET", "/tags", Scope.TAGS_READ, None, 200),
    ("POST", "/tags", Scope.TAGS_WRITE, {"name": "fresh"}, 201),
    ("GET", "/tags/{tag}", Scope.TAGS_READ, None, 200),
    ("PATCH", "/tags/{tag}", Scope.TAGS_WRITE, {"color": "#00ff00"}, 200),
    ("DELETE", "/tags/{tag}", Scope.TAGS_WRITE, None, 200),
    ("GET", "/folders", Scope.FOLDERS_READ, None, 200),
    ("POST", "/folders", Scope.FOLDERS_WRITE, {"name": "Fresh"}, 201),
    ("GET", "/folders/{folder}", Scope.FOLDERS_READ, None, 200),
    ("PATCH", "/folders/{folder}", Scope.FOLDERS_WRITE, {"name": "Renamed"}, 200),
    ("DELETE", "/folders/{folder}", Scope.FOLDERS_WRITE, None, 200),
    (
        "POST",
        "/conversions",
        Scope.CONVERSIONS_WRITE,
        {"clickId": SEED_CLICK, "event": "signup"},
        201,
    ),
    ("GET", "/keys", Scope.KEYS_WRITE, None, 200),
    ("POST", "/keys", Scope.KEYS_WRITE, {"name": "ci", "scopes": ["links:read"]}, 201),
    ("GET", "/keys/{key}", Scope.KEYS_WRITE, None, 200),
    ("DELETE", "/keys/{key}", Scope.KEYS_WRITE, None, 200),
    ("GET", "/apps", Scope.KEYS_WRITE, None, 200),
    ("DELETE", "/apps/{app}", Scope.KEYS_WRITE, None, 204),
]
WITH_ID = [e for e in ENDPOINTS if "{" in e[1]]
WITH_BODY = [e for e in ENDPOINTS if e[3] is not None]


def endpoint_id(entry: tuple[str, str, Any, Any, int]) -> str:
    return f"{entry[0]} {entry[1]}"


async def seed(service: ClyptService, workspace: str) -> dict[str, str]:
    """A link (tagged `seed`, in folder `Seed`), its tag and folder, and a key, by kind."""
    principal = Principal(workspace_id=workspace)
    link = await service.create_link(
        principal, LinkCreate(url="https://example.com/seed", tags=["seed"], folder="Seed")
    )
    await service.store.record_clicks(
        [ClickEvent(link.id, workspace, service.clock(), device="desktop", click_id=SEED_CLICK)]
    )
    tag = (await service.list_tags(principal)).tags[0]
    folder = (await service.list_folders(principal)).folders[0]
    key = await service.create_api_key(
        workspace, ApiKeyCreate(name="victim", scopes=[Scope.LINKS_READ])
    )
    app = await service.store.oauth.upsert_grant(
        GrantRecord(
            id=f"app_seed_{workspace}",
            workspace_id=workspace,
            client_id="https://assistant.example/client.json",
            client_name="Assistant",
            redirect_host="assistant.example",
            scopes=["links:read"],
            key_id=key.id,
            created_at=0,
            last_used_at=None,
            revoked_at=None,
        )
    )
    return {"link": link.id, "tag": tag.id, "folder": folder.id, "key": key.id, "app": app}


async def snapshot(service: ClyptService) -> dict[str, Any]:
    """Everything a REST call may write, in both test workspaces, read through the service."""
    out: dict[str, Any] = {}
    for workspace in ("default", "other"):
        principal = Principal(workspace_id=workspace)
        links, cursor = [], None
        while True:
            page = await service.list_links(
                principal, LinkQuery(status="all", limit=100, cursor=cursor)
            )
            links += [link.model_dump() for link in page.links]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        out[workspace] = {
            "links": links,
            "tags": (await service.list_tags(principal)).model_dump(),
            "folders": (await service.list_folders(principal)).model_dump(),
            # when a key was last used is bookkeeping, not something a request writes
            "keys": [
                k.model_dump(exclude={"last_used_at"})
                for k in await service.list_api_keys(workspace)
            ],
        }
    return out
