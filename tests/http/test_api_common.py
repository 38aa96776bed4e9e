"""Every REST endpoint: success, 401, 403, 404 (another workspace too), 400, 413 and 429.

Each answer is also checked against the served OpenAPI document (see `rest.Api`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.api.jobs import IMPORT_BODY
from clypt_mcp.models import ALL_SCOPES, Scope
from tests.http.conftest import ApiFactory, KeyFactory
from tests.http.rest import Api
from tests.http.seed import ENDPOINTS, WITH_BODY, WITH_ID, endpoint_id, seed, snapshot

pytestmark = pytest.mark.anyio
Entry = tuple[str, str, Scope, dict[str, Any] | None, int]


def _path(template: str, ids: dict[str, str]) -> str:
    return template.format(**ids)


async def test_the_table_lists_every_documented_operation(api: Api) -> None:
    documented = {
        (method.upper(), path)
        for path, ops in api.document["paths"].items()
        for method in ops
        # public: tested in test_docs.py and test_team_guest_links.py
        if path not in ("/openapi.json", "/", "/guest-links")
    }
    table = {(m, p.replace("{link}", "{id}").replace("{tag}", "{id}")) for m, p, *_ in ENDPOINTS}
    table = {(m, p.replace("{folder}", "{id}").replace("{key}", "{id}")) for m, p in table}
    table = {
        (m, p.replace("{app}", "{id}").replace("{webhook}", "{id}").replace("{domain}", "{id}"))
        for m, p in table
    }
    table = {(m, p.replace("{job}", "{id}")) for m, p in table}
    # /me and /usage need no scope: tested on their own
    assert documented == table | {("GET", "/me"), ("GET", "/usage")}


@pytest.mark.parametrize("entry", ENDPOINTS, ids=endpoint_id)
async def test_every_endpoint_succeeds_with_the_rate_limit_headers(
    api: Api, service: ClyptService, admin_key: str, entry: Entry
) -> None:
    method, template, _, body, status = entry
    ids = await seed(service, "default")
    r = await api.request(method, _path(template, ids), admin_key, json=body)
    assert r.status_code == status, r.text
    assert r.headers["X-RateLimit-Limit"] == "1000"
    assert int(r.headers["X-RateLimit-Remaining"]) == 999
    assert int(r.headers["X-RateLimit-Reset"]) > 0


@pytest.mark.parametrize("entry", ENDPOINTS, ids=endpoint_id)
async def test_every_endpoint_answers_401_without_a_valid_key_and_changes_nothing(
    api: Api, service: ClyptService, make_key: KeyFactory, entry: Entry
) -> None:
    method, template, _, body, _ = entry
    ids = await seed(service, "default")
    revoked = await make_key()
    made = [k for k in await service.list_api_keys("default") if revoked.startswith(k.prefix)]
    await service.revoke_api_key("default", made[0].id)
    before = await snapshot(service)
    for headers in (
        {},
        {"Authorization": "Bearer clypt_not-a-real-key-xxxxxxxxxxxxxxxxxxxxxxxx"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": f"Bearer {revoked}"},
    ):
        r = await api.request(method, _path(template, ids), json=body, headers=headers)
        assert r.status_code == 401, headers
        known = headers.get("Authorization") == f"Bearer {revoked}"
        assert r.json()["code"] == ("key_revoked" if known else "unauthenticated")
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert await snapshot(service) == before


def _without(scope: Scope) -> list[Scope]:
    """Every scope except `scope` and those that imply it."""
    return sorted(s for s in ALL_SCOPES if scope not in s.implies())


@pytest.mark.parametrize("entry", ENDPOINTS, ids=endpoint_id)
async def test_every_endpoint_answers_403_without_its_scope_and_changes_nothing(
    api: Api, service: ClyptService, make_key: KeyFactory, entry: Entry
) -> None:
    method, template, scope, body, _ = entry
    ids = await seed(service, "default")
    key = await make_key(*_without(scope))
    before = await snapshot(service)
    r = await api.request(method, _path(template, ids), key, json=body)
    assert r.status_code == 403
    assert r.json()["code"] == "insufficient_scope"
    assert scope.value in r.json()["error"]
    assert await snapshot(service) == before


@pytest.mark.parametrize("entry", WITH_ID, ids=endpoint_id)
async def test_another_workspaces_id_is_a_404_exactly_like_a_missing_one(
    api: Api, service: ClyptService, admin_key: str, entry: Entry
) -> None:
    method, template, _, body, _ = entry
    await seed(service, "default")
    theirs = await seed(service, "other")
    missing = {kind: f"{kind[:3]}_doesNotExist0000" for kind in theirs}
    before = await snapshot(service)
    answers = []
    for ids in (theirs, missing):
        r = await api.request(method, _path(template, ids), admin_key, json=body)
        assert r.status_code == 404, r.text
        answers.append(r.json()["code"])
    assert answers == ["not_found", "not_found"]
    assert await snapshot(service) == before


@pytest.mark.parametrize("entry", WITH_BODY, ids=endpoint_id)
async def test_a_body_over_100_kb_is_413_and_changes_nothing(
    api: Api, service: ClyptService, admin_key: str, entry: Entry
) -> None:
    method, template, _, body, _ = entry
    ids = await seed(service, "default")
    before = await snapshot(service)
    # an import's file may be bigger (IMPORT_BODY); past that it is refused the same way
    size = IMPORT_BODY + 1024 if template == "/imports" else 101 * 1024
    big = json.dumps({**(body or {}), "notes": "x" * size}).encode()
    r = await api.request(
        method,
        _path(template, ids),
        admin_key,
        content=big,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert await snapshot(service) == before


@pytest.mark.parametrize("entry", WITH_BODY, ids=endpoint_id)
async def test_bad_json_and_unknown_fields_are_400_naming_the_field(
    api: Api, service: ClyptService, admin_key: str, entry: Entry
) -> None:
    method, template, _, body, _ = entry
    path = _path(template, await seed(service, "default"))
    before = await snapshot(service)
    # an action without fields (`{}`: rotate-secret, test) may send no body at all
    for content in (b"{not json", b"[1, 2]", b"null") + ((b"",) if body else ()):
        r = await api.request(
            method, path, admin_key, content=content, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400, content
        assert r.json()["code"] == "bad_request"
    r = await api.request(method, path, admin_key, json={**(body or {}), "colour": "red"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("colour: is not a known field")
    assert await snapshot(service) == before


@pytest.mark.parametrize("entry", ENDPOINTS, ids=endpoint_id)
async def test_an_unknown_query_parameter_is_400_naming_it(
    api: Api, service: ClyptService, admin_key: str, entry: Entry
) -> None:
    method, template, _, body, _ = entry
    ids = await seed(service, "default")
    before = await snapshot(service)
    r = await api.request(
        method, _path(template, ids), admin_key, json=body, params={"verbose": "1"}
    )
    assert r.status_code == 400
    assert r.json()["error"].startswith("verbose: is not a known query parameter")
    assert await snapshot(service) == before


@pytest.mark.parametrize("entry", ENDPOINTS, ids=endpoint_id)
async def test_every_endpoint_answers_429_with_retry_after_over_the_limit(
    make_api: ApiFactory, service: ClyptService, admin_key: str, entry: Entry
) -> None:
    method, template, _, body, _ = entry
    ids = await seed(service, "default")
    async with make_api(rate_limit="2/minute") as api:
        for _ in range(2):
            assert (await api.get("/tags", admin_key)).status_code == 200
        before = await snapshot(service)
        r = await api.request(method, _path(template, ids), admin_key, json=body)
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert r.headers["X-RateLimit-Limit"] == "2"
    assert await snapshot(service) == before


async def test_the_rate_limit_is_per_key(
    make_api: ApiFactory, make_key: KeyFactory, admin_key: str
) -> None:
    other = await make_key()
    async with make_api(rate_limit="1/minute") as api:
        assert (await api.get("/tags", admin_key)).status_code == 200
        assert (await api.get("/tags", admin_key)).status_code == 429
        assert (await api.get("/tags", other)).status_code == 200


async def test_other_methods_are_a_json_405_and_unknown_paths_a_json_404(
    api: Api, admin_key: str
) -> None:
    r = await api.request("PUT", "/links", admin_key)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD, POST"
    assert r.json() == {
        "error": "PUT is not allowed on /api/v1/links — use GET, HEAD, POST",
        "code": "method_not_allowed",
    }
    assert (await api.request("POST", "/openapi.json")).status_code == 405
    r = await api.get("/linkz", admin_key)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
