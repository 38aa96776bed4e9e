"""Issue 21 item 5 (keys cannot escalate) and issue 11 item 7 (keys say why they fail), over
REST and the dashboard in process (the rules live in the service: KeysArea.create_api_key_as
and revoke_api_key_as; MCP has no key tools and the CLI is the admin). Each test fails with
its rule switched off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.models import ApiKeyCreate, Scope
from tests.conftest import BASE_URL
from tests.http.conftest import KeyFactory
from tests.http.rest import Api
from tests.http.test_web import csrf, sign_in

pytestmark = pytest.mark.anyio


async def key_with(
    service: ClyptService, *scopes: Scope, expires_at: datetime | None = None
) -> tuple[str, str]:
    made = await service.create_api_key(
        "default", ApiKeyCreate(name="parent", scopes=list(scopes), expires_at=expires_at)
    )
    return made.id, made.secret


async def test_a_key_made_by_a_key_never_outlives_it(api: Api, service: ClyptService) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    _, parent = await key_with(service, Scope.KEYS_WRITE, Scope.LINKS_READ, expires_at=soon)
    # no expiry given: it gets the parent's
    child = await api.post("/keys", parent, json={"name": "c", "scopes": ["links:read"]})
    assert child.status_code == 201, child.text
    assert datetime.fromisoformat(child.json()["expiresAt"]) == soon
    # a later one is refused, and nothing is made
    later = (soon + timedelta(days=1)).isoformat()
    r = await api.post("/keys", parent, json={"name": "c", "scopes": [], "expiresAt": later})
    assert r.status_code == 422 and r.json()["code"] == "invalid_input"
    assert "expiresAt" in r.json()["error"] and "outlives" in r.json()["error"]
    assert len((await api.get("/keys", parent)).json()["keys"]) == 2
    # an earlier one is fine
    earlier = (soon - timedelta(minutes=5)).isoformat()
    r = await api.post("/keys", parent, json={"name": "c", "scopes": [], "expiresAt": earlier})
    assert r.status_code == 201


async def test_a_key_never_grants_a_scope_it_lacks(api: Api, service: ClyptService) -> None:
    _, parent = await key_with(service, Scope.KEYS_WRITE)
    r = await api.post("/keys", parent, json={"name": "c", "scopes": ["links:write"]})
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"


async def test_revoking_needs_every_scope_of_the_key_revoked(
    api: Api, service: ClyptService, admin_key: str
) -> None:
    admin_id = next(
        k.id for k in await service.list_api_keys("default") if admin_key.startswith(k.prefix)
    )
    small_id, small = await key_with(service, Scope.KEYS_WRITE, Scope.LINKS_READ)
    r = await api.delete(f"/keys/{admin_id}", small)
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    assert (await api.get("/links", admin_key)).status_code == 200  # still works
    # a key whose scopes are a subset of its own it may revoke; the admin may revoke it
    peer_id, _ = await key_with(service, Scope.LINKS_READ)
    assert (await api.delete(f"/keys/{peer_id}", small)).status_code == 200
    assert (await api.delete(f"/keys/{small_id}", admin_key)).status_code == 200


async def test_revoked_expired_and_unknown_keys_say_which_they_are(
    api: Api, service: ClyptService, make_key: KeyFactory, admin_key: str
) -> None:
    revoked_id, revoked = await key_with(service, Scope.LINKS_READ)
    await service.revoke_api_key("default", revoked_id)
    r = await api.get("/links", revoked)
    assert r.status_code == 401 and r.json()["code"] == "key_revoked"
    assert "revoked" in r.json()["error"] and "new one" in r.json()["error"]

    soon = datetime.now(UTC) + timedelta(minutes=1)
    expiring_id, expiring = await key_with(service, Scope.LINKS_READ, expires_at=soon)
    real = service.clock
    service.clock = lambda: real() + timedelta(minutes=2)
    try:
        r = await api.get("/links", expiring)
        assert r.status_code == 401 and r.json()["code"] == "key_expired"
        assert "expired" in r.json()["error"] and "create a new one" in r.json()["error"]
        listed = {k["id"]: k for k in (await api.get("/keys", admin_key)).json()["keys"]}
        assert listed[expiring_id]["expired"] is True
        assert listed[revoked_id]["expired"] is False
    finally:
        service.clock = real

    r = await api.get("/links", "clypt_" + "x" * 43)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"


# --- the same rules in the dashboard (a session signed in with a key acts as that key) ------


@pytest.fixture
async def web(service: ClyptService) -> AsyncIterator[httpx2.AsyncClient]:
    app = create_app(
        service,
        Settings(base_url=BASE_URL),
        ClickRecorder(service.store),
        with_mcp=False,
        store=service.store,
    )
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


async def test_a_dashboard_session_cannot_escalate_its_key(
    web: httpx2.AsyncClient, service: ClyptService, admin_key: str
) -> None:
    admin_id = next(
        k.id for k in await service.list_api_keys("default") if admin_key.startswith(k.prefix)
    )
    soon = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    _, parent = await key_with(service, Scope.KEYS_WRITE, Scope.LINKS_READ, expires_at=soon)
    await sign_in(web, parent)
    page = await web.get("/app/keys")
    # a key made here gets the session key's expiry, shown in the list
    made = await web.post(
        "/app/keys", data={"csrf": csrf(page), "name": "child", "scope": ["links:read"]}
    )
    assert made.status_code == 201, made.text
    child = next(k for k in await service.list_api_keys("default") if k.name == "child")
    assert child.expires_at == soon
    assert soon.strftime("%Y-%m-%d %H:%M") in made.text
    # it cannot revoke a key holding scopes it lacks
    r = await web.post(f"/app/keys/{admin_id}/revoke", data={"csrf": csrf(page)})
    assert r.status_code == 403 and "cannot revoke" in r.text
    admin = next(k for k in await service.list_api_keys("default") if k.id == admin_id)
    assert admin.revoked_at is None
    # an expired key shows as expired, not active
    real = service.clock
    service.clock = lambda: real() + timedelta(hours=2)
    try:
        listed = {k.id: k for k in await service.list_api_keys("default")}
        assert listed[child.id].expired
    finally:
        service.clock = real


async def test_the_keys_page_shows_expired_keys_as_expired(
    web: httpx2.AsyncClient, service: ClyptService, admin_key: str
) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=1)
    await key_with(service, Scope.LINKS_READ, expires_at=soon)
    await sign_in(web, admin_key)
    real = service.clock
    service.clock = lambda: real() + timedelta(minutes=2)
    try:
        page = await web.get("/app/keys")
    finally:
        service.clock = real
    row = next(r for r in page.text.split('<tr class="key"')[1:] if ">parent<" in r)
    assert ">expired<" in row and ">active<" not in row


async def test_revoking_a_key_revokes_the_keys_it_made_and_theirs(
    api: Api, service: ClyptService, admin_key: str
) -> None:
    parent_id, parent = await key_with(service, Scope.KEYS_WRITE, Scope.LINKS_READ)
    child = await api.post(
        "/keys", parent, json={"name": "child", "scopes": ["keys:write", "links:read"]}
    )
    assert child.status_code == 201, child.text
    grandchild = await api.post(
        "/keys", child.json()["secret"], json={"name": "grandchild", "scopes": ["links:read"]}
    )
    assert grandchild.status_code == 201, grandchild.text
    # a key the admin made beside them is not in the family
    _, sibling = await key_with(service, Scope.LINKS_READ)

    assert (await api.delete(f"/keys/{parent_id}", admin_key)).status_code == 200
    for secret in (parent, child.json()["secret"], grandchild.json()["secret"]):
        r = await api.get("/links", secret)
        assert r.status_code == 401 and r.json()["code"] == "key_revoked"
    assert (await api.get("/links", sibling)).status_code == 200
    listed = {k["name"]: k for k in (await api.get("/keys", admin_key)).json()["keys"]}
    assert listed["child"]["revokedAt"] is not None
    assert listed["grandchild"]["revokedAt"] is not None
