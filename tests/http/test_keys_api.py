"""/keys over REST: keys:write only, one workspace's keys, the secret once, at most 10 active."""

from __future__ import annotations

import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import Scope
from tests.http.conftest import KeyFactory
from tests.http.rest import Api
from tests.http.seed import snapshot

pytestmark = pytest.mark.anyio


async def test_a_key_sees_only_its_own_workspaces_keys_and_never_a_secret(
    api: Api, admin_key: str, other_key: str
) -> None:
    mine = (await api.get("/keys", admin_key)).json()["keys"]
    theirs = (await api.get("/keys", other_key)).json()["keys"]
    assert [k["workspace"] for k in mine] == ["default"]
    assert [k["workspace"] for k in theirs] == ["other"]
    assert admin_key.startswith(mine[0]["prefix"])
    assert "secret" not in mine[0]
    assert admin_key not in str(mine) and other_key not in str(theirs)


async def test_create_answers_the_secret_once_and_the_new_key_works_with_its_scopes(
    api: Api, admin_key: str
) -> None:
    r = await api.post(
        "/keys",
        admin_key,
        json={"name": "ci", "scopes": ["links:read"], "expiresAt": "2099-01-01T00:00:00Z"},
    )
    assert r.status_code == 201
    made = r.json()
    assert made["secret"].startswith("clypt_") and len(made["secret"]) >= 38
    assert made["secret"].startswith(made["prefix"])
    assert (made["scopes"], made["expiresAt"]) == (["links:read"], "2099-01-01T00:00:00Z")
    listed = (await api.get("/keys", admin_key)).json()["keys"]
    assert made["id"] in [k["id"] for k in listed]
    assert made["secret"] not in str(listed)
    assert (await api.get("/links", made["secret"])).status_code == 200
    denied = await api.post("/links", made["secret"], json={"url": "https://e.com"})
    assert denied.status_code == 403


async def test_a_key_cannot_grant_scopes_it_does_not_hold(
    api: Api, make_key: KeyFactory, service: ClyptService
) -> None:
    admin = await make_key(Scope.KEYS_WRITE, Scope.LINKS_WRITE)
    before = await snapshot(service)
    r = await api.post("/keys", admin, json={"name": "x", "scopes": ["links:read", "tags:write"]})
    assert r.status_code == 403
    assert r.json()["error"].startswith("scopes: this key cannot grant tags:write")
    assert await snapshot(service) == before
    r = await api.post("/keys", admin, json={"name": "x", "scopes": ["links:read"]})
    assert r.status_code == 201


async def test_at_most_10_active_keys_then_409_until_one_is_revoked(
    api: Api, admin_key: str
) -> None:
    body = {"name": "n", "scopes": ["links:read"]}
    made = [await api.post("/keys", admin_key, json=body) for _ in range(9)]
    assert [r.status_code for r in made] == [201] * 9
    r = await api.post("/keys", admin_key, json=body)
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert "10 active keys" in r.json()["error"]
    revoked = await api.delete(f"/keys/{made[0].json()['id']}", admin_key)
    assert revoked.status_code == 200 and revoked.json()["revokedAt"] is not None
    assert (await api.post("/keys", admin_key, json=body)).status_code == 201


async def test_a_revoked_key_is_401_and_revoking_twice_is_404(
    api: Api, admin_key: str, make_key: KeyFactory, service: ClyptService
) -> None:
    victim = await make_key(Scope.LINKS_READ)
    key_id = next(
        k.id for k in await service.list_api_keys("default") if victim.startswith(k.prefix)
    )
    assert (await api.delete(f"/keys/{key_id}", admin_key)).status_code == 200
    assert (await api.get("/links", victim)).status_code == 401
    again = await api.delete(f"/keys/{key_id}", admin_key)
    assert again.status_code == 404 and again.json()["code"] == "not_found"


async def test_bad_key_input_is_422_naming_the_field(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    before = await snapshot(service)
    cases = [
        ({"name": ""}, "name: String should have at least 1 character"),
        ({"name": "n", "scopes": ["links:admin"]}, "scopes.0: Input should be"),
        ({"name": "n", "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt must be in the future"),
        ({"scopes": ["links:read"]}, "name: is required"),
    ]
    for body, start in cases:
        r = await api.post("/keys", admin_key, json=body)
        assert r.status_code == 422, body
        assert r.json()["error"].startswith(start)
    assert await snapshot(service) == before


async def test_me_tells_any_key_its_workspace_and_scopes(api: Api, make_key: KeyFactory) -> None:
    key = await make_key(Scope.LINKS_WRITE, workspace="team")
    r = await api.get("/me", key)
    assert r.status_code == 200
    assert r.json() == {
        "workspace": "team",
        "keyId": r.json()["keyId"],
        "scopes": ["links:read", "links:write"],
        "baseUrl": "https://clypt.test",
    }
    assert r.json()["keyId"].startswith("key_")
    assert (await api.get("/me", "clypt_nope")).status_code == 401


async def test_a_key_records_when_it_was_last_used(
    api: Api, make_key: KeyFactory, service: ClyptService
) -> None:
    key = await make_key(Scope.LINKS_READ)
    before = [k for k in await service.list_api_keys("default") if key.startswith(k.prefix)]
    assert before[0].last_used_at is None
    assert (await api.get("/links", key)).status_code == 200
    after = [k for k in await service.list_api_keys("default") if key.startswith(k.prefix)]
    assert after[0].last_used_at is not None
