"""Idempotency-Key on every POST: replays, conflicts, parallel retries, failed attempts; and
one key space with MCP's idempotency_key, embedded or remote."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.backends.remote import RemoteBackend
from clypt_mcp.core import idempotency
from clypt_mcp.core.idempotency import claim_name, outcome_name
from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ALL_SCOPES, LinkCreate, LinkQuery, Principal
from clypt_mcp.tools.server import build_server
from tests.conftest import text
from tests.http.rest import Api
from tests.http.seed import ENDPOINTS, endpoint_id, seed, snapshot

pytestmark = pytest.mark.anyio
POSTS = [e for e in ENDPOINTS if e[0] == "POST" and "{" not in e[1]]  # verify: no body
KEY = {"Idempotency-Key": "retry-7f3c"}


def _digest(body: dict[str, Any]) -> str:
    return idempotency.digest(
        "create_link", LinkCreate.model_validate(body).model_dump(mode="json")
    )


# A secret is never replayed (new keys, webhook secrets): those answer 409, tested below.
SECRET_POSTS = ("/keys", "/webhooks", "/webhooks/{webhook}/rotate-secret")


@pytest.mark.parametrize("entry", [e for e in POSTS if e[1] not in SECRET_POSTS], ids=endpoint_id)
async def test_same_key_and_body_replays_the_first_answer_without_a_duplicate(
    api: Api, admin_key: str, service: ClyptService, entry: tuple[Any, ...]
) -> None:
    _, path, _, body, status = entry
    if "{" in path:  # an action on an object (a webhook's test, redeliver)
        path = path.format(**await seed(service, "default"))
    elif path == "/conversions":
        await seed(service, "default")  # the click its body names
    first = await api.post(path, admin_key, json=body, headers=KEY)
    assert first.status_code == status
    after_first = await snapshot(service)
    reordered = json.loads(json.dumps(body, sort_keys=True))  # same body, other key order
    again = await api.post(path, admin_key, json=reordered, headers=KEY)
    assert (again.status_code, again.json()) == (status, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await snapshot(service) == after_first


@pytest.mark.parametrize("entry", POSTS, ids=endpoint_id)
async def test_same_key_with_another_body_is_409_conflict(
    api: Api, admin_key: str, service: ClyptService, entry: tuple[Any, ...]
) -> None:
    _, path, _, body, status = entry
    if "{" in path:
        path = path.format(**await seed(service, "default"))
    elif path == "/conversions":
        await seed(service, "default")  # the click its body names
    assert (await api.post(path, admin_key, json=body, headers=KEY)).status_code == status
    before = await snapshot(service)
    r = await api.post(path, admin_key, json={**body, "x": 1}, headers=KEY)
    assert r.status_code == 409
    assert r.json()["code"] == "conflict"
    assert "already used for a different request" in r.json()["error"]
    assert await snapshot(service) == before


async def test_a_key_used_on_one_endpoint_conflicts_on_another(api: Api, admin_key: str) -> None:
    assert (await api.post("/tags", admin_key, json={"name": "a"}, headers=KEY)).status_code == 201
    r = await api.post("/folders", admin_key, json={"name": "a"}, headers=KEY)
    assert r.status_code == 409


async def test_a_key_replay_never_repeats_the_secret(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    body = {"name": "ci", "scopes": ["links:read"]}
    first = await api.post("/keys", admin_key, json=body, headers=KEY)
    assert first.status_code == 201
    made = first.json()
    before = await snapshot(service)
    again = await api.post("/keys", admin_key, json=body, headers=KEY)
    assert again.status_code == 409
    assert made["id"] in again.json()["error"] and made["secret"] not in again.text
    assert await snapshot(service) == before
    rows = [
        await service.store.get_idempotent("default", name)
        for name in (claim_name("retry-7f3c", 0), outcome_name("retry-7f3c", 0))
    ]
    stored = json.dumps(rows)
    assert made["id"] in stored and made["secret"] not in stored


async def test_a_rejected_request_is_not_remembered(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    taken = await api.post("/links", admin_key, json={"url": "https://e.com", "code": "taken"})
    body = {"url": "https://e.com/2", "code": "taken"}
    first = await api.post("/links", admin_key, json=body, headers=KEY)
    assert first.status_code == 409 and first.json()["code"] == "code_taken"
    await api.delete(f"/links/{taken.json()['id']}", admin_key, params={"permanent": "true"})
    again = await api.post("/links", admin_key, json=body, headers=KEY)
    assert again.status_code == 201 and again.json()["code"] == "taken"
    assert "Idempotent-Replayed" not in again.headers
    # a malformed body under a fresh key is rejected, and the key then takes a corrected one
    bad = await api.post(
        "/links", admin_key, json={"url": "ftp://e.com"}, headers={"Idempotency-Key": "k9"}
    )
    assert bad.status_code == 422
    fixed = await api.post(
        "/links", admin_key, json={"url": "https://e.com/9"}, headers={"Idempotency-Key": "k9"}
    )
    assert fixed.status_code == 201


async def test_parallel_retries_with_one_key_create_one_link(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    answers: list[httpx2.Response] = []

    async def send() -> None:
        body = {"url": "https://e.com/parallel"}
        answers.append(await api.post("/links", admin_key, json=body, headers=KEY))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(send)
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["id"] for r in answers}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 5
    page = await service.list_links(Principal(workspace_id="default"), LinkQuery())
    assert page.total == 1


async def test_rest_and_embedded_mcp_share_one_key_space(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    principal = Principal(workspace_id="default")
    by_mcp = await service.create_link(
        principal, LinkCreate(url="https://e.com/mcp"), idempotency_key="shared-key"
    )
    same = {"url": "https://e.com/mcp"}
    r = await api.post("/links", admin_key, json=same, headers={"Idempotency-Key": "shared-key"})
    assert r.status_code == 201 and r.json()["id"] == by_mcp.id
    assert r.headers["Idempotent-Replayed"] == "true"
    other = {"url": "https://e.com/rest"}
    r = await api.post("/links", admin_key, json=other, headers={"Idempotency-Key": "shared-key"})
    assert r.status_code == 409
    assert r.json()["error"].startswith("Idempotency-Key: 'shared-key' was already used")
    by_rest = await api.post("/links", admin_key, json=other, headers={"Idempotency-Key": "k-rest"})
    replay = await service.create_link(
        principal, LinkCreate(url="https://e.com/rest"), idempotency_key="k-rest"
    )
    assert replay.id == by_rest.json()["id"]
    assert (await service.list_links(principal, LinkQuery())).total == 2


@pytest.mark.parametrize("mode", ["embedded", "remote"])
async def test_mcp_create_link_retried_with_another_request_is_an_error_naming_the_key(
    api: Api, admin_key: str, service: ClyptService, mode: str
) -> None:
    if mode == "embedded":
        backend: LocalBackend | RemoteBackend = LocalBackend(
            service, Principal(workspace_id="default")
        )
    else:
        backend = RemoteBackend(api.http, admin_key)
    async with Client(build_server(lambda: backend, ALL_SCOPES)) as client:
        first = await client.call_tool(
            "create_link", {"url": "https://e.com/a", "idempotency_key": "mcp-1"}
        )
        assert not first.is_error, text(first)
        made = first.structured_content
        assert made is not None
        again = await client.call_tool(
            "create_link", {"url": "https://e.com/a", "idempotency_key": "mcp-1"}
        )
        assert again.structured_content is not None and again.structured_content["id"] == made["id"]
        other = await client.call_tool(
            "create_link", {"url": "https://e.com/b", "idempotency_key": "mcp-1"}
        )
        assert other.is_error
        assert "idempotency_key: 'mcp-1' was already used for a different request" in text(other)
        # rejected (a taken code) and not remembered: the corrected retry runs under the key
        taken = await client.call_tool(
            "create_link",
            {"url": "https://e.com/c", "code": made["code"], "idempotency_key": "mcp-2"},
        )
        assert taken.is_error and "is taken" in text(taken)
        fixed = await client.call_tool(
            "create_link", {"url": "https://e.com/c", "code": "fresh", "idempotency_key": "mcp-2"}
        )
        assert not fixed.is_error, text(fixed)
    codes = {
        link.code
        for link in (await service.list_links(Principal(workspace_id="default"), LinkQuery())).links
    }
    assert codes == {made["code"], "fresh"}


@pytest.mark.parametrize("value", ["", "   ", "k" * 201, "clé"])
async def test_a_malformed_key_is_400_and_writes_nothing(
    api: Api, admin_key: str, service: ClyptService, value: str
) -> None:
    before = await snapshot(service)
    r = await api.http.post(
        "/api/v1/links",
        json={"url": "https://e.com"},
        headers=[
            (b"Authorization", f"Bearer {admin_key}".encode()),
            (b"Idempotency-Key", value.encode()),
        ],
    )
    assert r.status_code == 400
    assert r.json()["error"].startswith("Idempotency-Key: must be 1-200 printable")
    assert await snapshot(service) == before


async def test_a_failed_or_abandoned_attempt_lets_a_retry_run_again(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    body = {"url": "https://e.com/retry"}
    digest = _digest(body)
    store, now = service.store, service.clock()
    pending = json.dumps({"pending": True, "since": time.time()})
    await store.put_idempotent("default", claim_name("k1", 0), digest, pending, now)
    await store.put_idempotent("default", outcome_name("k1", 0), digest, '{"failed": true}', now)
    abandoned = json.dumps({"pending": True, "since": time.time() - 3600})
    await store.put_idempotent("default", claim_name("k2", 0), digest, abandoned, now)
    for key in ("k1", "k2"):
        first = await api.post("/links", admin_key, json=body, headers={"Idempotency-Key": key})
        assert first.status_code == 201
        again = await api.post("/links", admin_key, json=body, headers={"Idempotency-Key": key})
        assert again.json() == first.json()


async def test_a_request_still_running_under_the_key_is_409_after_a_wait(
    api: Api, admin_key: str, service: ClyptService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.2)
    body = {"url": "https://e.com/slow"}
    pending = json.dumps({"pending": True, "since": time.time()})
    digest = _digest(body)
    await service.store.put_idempotent(
        "default", claim_name("k3", 0), digest, pending, service.clock()
    )
    with anyio.fail_after(5):
        r = await api.post("/links", admin_key, json=body, headers={"Idempotency-Key": "k3"})
    assert r.status_code == 409
    assert "still running" in r.json()["error"]
