"""REST /api/v1/webhooks (#16): the secret once, scopes, refused URLs, deliveries."""

from __future__ import annotations

import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import Scope
from tests.http.conftest import KeyFactory
from tests.http.rest import Api

pytestmark = pytest.mark.anyio


async def test_create_shows_the_secret_once_and_lists_without_it(api: Api, admin_key: str) -> None:
    made = await api.post(
        "/webhooks",
        admin_key,
        json={"url": "http://127.0.0.1:9/hook", "events": ["link.created"], "filter": {"tag": "x"}},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["secret"].startswith("whsec_") and body["filter"] == {"tag": "x"}
    listed = await api.get("/webhooks", admin_key)
    assert "whsec_" not in listed.text
    assert [w["id"] for w in listed.json()["webhooks"]] == [body["id"]]
    one = await api.get(f"/webhooks/{body['id']}", admin_key)
    assert "secret" not in one.json() and one.json()["events"] == ["link.created"]
    rotated = await api.post(f"/webhooks/{body['id']}/rotate-secret", admin_key, json={})
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != body["secret"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://10.0.0.7/hook"}, "url"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "ftp://127.0.0.1/"}, "url"),
        ({"url": "http://127.0.0.1:9/", "events": ["link.exploded"]}, "events"),
        ({"url": "http://127.0.0.1:9/", "filter": {"tag": "a", "folder": "b"}}, "filter"),
    ],
)
async def test_bad_input_is_named_and_changes_nothing(
    api: Api, admin_key: str, body: dict[str, object], field: str
) -> None:
    r = await api.post("/webhooks", admin_key, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_input" and field in r.json()["error"]
    assert (await api.get("/webhooks", admin_key)).json()["webhooks"] == []


async def test_scopes_and_workspaces(api: Api, make_key: KeyFactory) -> None:
    reader = await make_key(Scope.WEBHOOKS_READ)
    links_only = await make_key(Scope.LINKS_WRITE)
    writer = await make_key(Scope.WEBHOOKS_WRITE)
    other = await make_key(workspace="other")
    assert (await api.get("/webhooks", links_only)).status_code == 403
    r = await api.post("/webhooks", reader, json={"url": "http://127.0.0.1:9/"})
    assert r.status_code == 403 and "webhooks:write" in r.text
    made = (await api.post("/webhooks", writer, json={"url": "http://127.0.0.1:9/"})).json()
    assert (await api.get(f"/webhooks/{made['id']}", reader)).status_code == 200
    assert (await api.get(f"/webhooks/{made['id']}", other)).status_code == 404
    assert (await api.delete(f"/webhooks/{made['id']}", other)).status_code == 404
    assert (await api.get(f"/webhooks/{made['id']}/deliveries", other)).status_code == 404


async def test_update_test_and_deliveries(api: Api, admin_key: str, service: ClyptService) -> None:
    made = (await api.post("/webhooks", admin_key, json={"url": "http://127.0.0.1:9/"})).json()
    path = f"/webhooks/{made['id']}"
    changed = await api.patch(path, admin_key, json={"enabled": False, "events": ["link.clicked"]})
    assert changed.json()["enabled"] is False and changed.json()["events"] == ["link.clicked"]
    queued = await api.post(f"{path}/test", admin_key, json={})
    assert queued.status_code == 202 and queued.json()["queued"] is True
    page = await api.get(f"{path}/deliveries", admin_key, params={"limit": 5})
    assert page.json() == {"deliveries": [], "nextCursor": None}  # nothing sent yet
    bad = await api.get(f"{path}/deliveries", admin_key, params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.text
    gone = await api.post(f"{path}/deliveries/nope/redeliver", admin_key, json={})
    assert gone.status_code == 404
    assert (await api.delete(path, admin_key)).status_code == 200
    assert (await api.get(path, admin_key)).status_code == 404
