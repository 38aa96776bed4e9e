"""Idempotency-Key on every POST: replays, conflicts, parallel retries, failed attempts."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import anyio
import httpx2
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.api import idempotency
from clypt_mcp.models import LinkCreate, LinkQuery, Principal
from tests.http.rest import Api
from tests.http.seed import ENDPOINTS, endpoint_id, seed, snapshot

pytestmark = pytest.mark.anyio
POSTS = [e for e in ENDPOINTS if e[0] == "POST"]
KEY = {"Idempotency-Key": "retry-7f3c"}


def _digest(path: str, body: Any) -> str:
    canonical = json.dumps(["POST", path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize("entry", [e for e in POSTS if e[1] != "/keys"], ids=endpoint_id)
async def test_same_key_and_body_replays_the_first_answer_without_a_duplicate(
    api: Api, admin_key: str, service: ClyptService, entry: tuple[Any, ...]
) -> None:
    _, path, _, body, status = entry
    if path == "/conversions":
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
    if path == "/conversions":
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
        for name in ("rest:retry-7f3c", "rest-result:retry-7f3c")
    ]
    stored = json.dumps(rows)
    assert made["id"] in stored and made["secret"] not in stored


async def test_an_error_answer_is_replayed_too(api: Api, admin_key: str) -> None:
    taken = await api.post("/links", admin_key, json={"url": "https://e.com", "code": "taken"})
    body = {"url": "https://e.com/2", "code": "taken"}
    first = await api.post("/links", admin_key, json=body, headers=KEY)
    assert first.status_code == 409 and first.json()["code"] == "code_taken"
    await api.delete(f"/links/{taken.json()['id']}", admin_key, params={"permanent": "true"})
    again = await api.post("/links", admin_key, json=body, headers=KEY)
    assert (again.status_code, again.json()) == (409, first.json())


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


async def test_rest_keys_never_collide_with_mcp_create_link_keys(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    principal = Principal(workspace_id="default")
    by_mcp = await service.create_link(
        principal, LinkCreate(url="https://e.com/mcp"), idempotency_key="shared-key"
    )
    body = {"url": "https://e.com/rest"}
    r = await api.post("/links", admin_key, json=body, headers={"Idempotency-Key": "shared-key"})
    assert r.status_code == 201 and r.json()["id"] != by_mcp.id
    replay = await service.create_link(
        principal, LinkCreate(url="https://e.com/mcp"), idempotency_key="shared-key"
    )
    assert replay.id == by_mcp.id


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
    digest = _digest("/api/v1/links", body)
    store, now = service.store, service.clock()
    pending = json.dumps({"pending": True, "since": time.time()})
    await store.put_idempotent("default", "rest:k1", digest, pending, now)
    await store.put_idempotent("default", "rest-result:k1", digest, '{"failed": true}', now)
    abandoned = json.dumps({"pending": True, "since": time.time() - 3600})
    await store.put_idempotent("default", "rest:k2", digest, abandoned, now)
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
    digest = _digest("/api/v1/links", body)
    await service.store.put_idempotent("default", "rest:k3", digest, pending, service.clock())
    with anyio.fail_after(5):
        r = await api.post("/links", admin_key, json=body, headers={"Idempotency-Key": "k3"})
    assert r.status_code == 409
    assert "still running" in r.json()["error"]
