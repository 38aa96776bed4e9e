"""Every REST endpoint in one table, objects to point its `{id}`s at, and a snapshot of data."""

from __future__ import annotations

from typing import Any

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import (
    ApiKeyCreate,
    ClickEvent,
    ClickExport,
    LinkCreate,
    LinkQuery,
    Principal,
    Scope,
    WebhookCreate,
)
from clypt_mcp.store.oauth import GrantRecord

# A Kutt export with no links (tests/data/imports has real ones): an import job runs after
# its 202, so one that made links would change the data after the answer these tests compare.
KUTT = '{"limit": 10, "skip": 0, "total": 0, "data": []}'
SEED_CLICK = "seedClickId0001"  # the click id of the seed link's one click, in each workspace

# (method, path with {link}/{tag}/{folder}/{domain}/{key}/{app}/{job}, scope, a valid body,
# success status)
ENDPOINTS: list[tuple[str, str, Scope, dict[str, Any] | None, int]] = [
    ("GET", "/links", Scope.LINKS_READ, None, 200),
    ("POST", "/links", Scope.LINKS_WRITE, {"url": "https://example.com/new"}, 201),
    ("POST", "/links/bulk", Scope.LINKS_WRITE, {"links": [{"url": "https://example.com/b"}]}, 201),
    (
        "PATCH",
        "/links/bulk",
        Scope.LINKS_WRITE,
        {"filter": {"tag": "seed"}, "changes": {"title": "Bulk"}},
        200,
    ),
    ("POST", "/links/bulk-delete", Scope.LINKS_WRITE, {"filter": {"tag": "seed"}}, 200),
    ("GET", "/links/{link}", Scope.LINKS_READ, None, 200),
    ("PATCH", "/links/{link}", Scope.LINKS_WRITE, {"title": "Changed"}, 200),
    ("DELETE", "/links/{link}", Scope.LINKS_WRITE, None, 200),
    ("GET", "/links/{link}/analytics", Scope.ANALYTICS_READ, None, 200),
    ("GET", "/links/{link}/qr", Scope.LINKS_READ, None, 200),
    ("GET", "/analytics", Scope.ANALYTICS_READ, None, 200),
    ("GET", "/clicks", Scope.ANALYTICS_READ, None, 200),
    ("POST", "/exports", Scope.ANALYTICS_READ, {"kind": "clicks", "format": "jsonl"}, 202),
    ("GET", "/exports/{job}", Scope.ANALYTICS_READ, None, 200),
    ("POST", "/imports", Scope.LINKS_WRITE, {"source": "kutt", "content": KUTT}, 202),
    ("GET", "/jobs", Scope.LINKS_READ, None, 200),
    ("GET", "/jobs/{job}", Scope.ANALYTICS_READ, None, 200),
    ("POST", "/jobs/{job}/cancel", Scope.ANALYTICS_READ, None, 200),
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
    ("GET", "/domains", Scope.DOMAINS_READ, None, 200),
    ("POST", "/domains", Scope.DOMAINS_WRITE, {"domain": "fresh.example.org"}, 201),
    ("GET", "/domains/{domain}", Scope.DOMAINS_READ, None, 200),
    ("POST", "/domains/{domain}/verify", Scope.DOMAINS_WRITE, None, 200),
    ("PATCH", "/domains/{domain}", Scope.DOMAINS_WRITE, {"default": True}, 200),
    ("DELETE", "/domains/{domain}", Scope.DOMAINS_WRITE, None, 200),
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
    ("GET", "/webhooks", Scope.WEBHOOKS_READ, None, 200),
    ("POST", "/webhooks", Scope.WEBHOOKS_WRITE, {"url": "http://127.0.0.1:9/new"}, 201),
    ("GET", "/webhooks/{webhook}", Scope.WEBHOOKS_READ, None, 200),
    ("PATCH", "/webhooks/{webhook}", Scope.WEBHOOKS_WRITE, {"enabled": False}, 200),
    ("DELETE", "/webhooks/{webhook}", Scope.WEBHOOKS_WRITE, None, 200),
    ("POST", "/webhooks/{webhook}/rotate-secret", Scope.WEBHOOKS_WRITE, {}, 200),
    ("POST", "/webhooks/{webhook}/test", Scope.WEBHOOKS_WRITE, {}, 202),
    ("GET", "/webhooks/{webhook}/deliveries", Scope.WEBHOOKS_READ, None, 200),
    (
        "POST",
        "/webhooks/{webhook}/deliveries/{delivery}/redeliver",
        Scope.WEBHOOKS_WRITE,
        {},
        202,
    ),
]
WITH_ID = [e for e in ENDPOINTS if "{" in e[1]]
WITH_BODY = [e for e in ENDPOINTS if e[3] is not None]


def endpoint_id(entry: tuple[str, str, Any, Any, int]) -> str:
    return f"{entry[0]} {entry[1]}"


async def seed(service: ClyptService, workspace: str) -> dict[str, str]:
    """A link (tagged `seed`, in folder `Seed`), its tag and folder, a verified domain no link
    uses, a key, an app and a done export of clicks (its job), by kind."""
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
    # a webhook endpoint (on loopback: the REST tests' server allows it) with one queued event
    service.webhooks.allow_loopback = True
    hook = await service.webhooks.create(
        principal, WebhookCreate(url="http://127.0.0.1:9/seed", events=["link.updated"])
    )
    queued = await service.webhooks.test(principal, hook.id)
    domain = await service.operator_add_domain(workspace, f"go.{workspace}.seed.test", True)
    job = await service.jobs.start_export(principal, ClickExport())
    await service.jobs.wait(principal, job.id, None, 10)
    return {"link": link.id, "tag": tag.id, "folder": folder.id, "key": key.id, "app": app,
            "webhook": hook.id, "delivery": queued.event_id or "",
            "domain": domain.id, "job": job.id}  # fmt: skip


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
            "domains": (await service.list_domains(principal)).model_dump(),
            # when a key was last used is bookkeeping, not something a request writes
            "keys": [
                k.model_dump(exclude={"last_used_at"})
                for k in await service.list_api_keys(workspace)
            ],
        }
    return out
