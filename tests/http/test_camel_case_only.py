"""REST speaks camelCase only, and its errors name REST's own fields."""

from __future__ import annotations

from typing import Any

import pytest

from clypt_mcp.core.service import ClyptService
from tests.http.rest import Api
from tests.http.seed import snapshot

pytestmark = pytest.mark.anyio

SNAKE_BODIES: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("POST", "/links", {"url": "https://e.com", "utm_source": "x"}, "utm_source", "utmSource"),
    ("POST", "/links", {"url": "https://e.com", "max_clicks": 3}, "max_clicks", "maxClicks"),
    (
        "POST",
        "/links",
        {"url": "https://e.com", "utm_source": "snake", "utmSource": "camel"},
        "utm_source",
        "utmSource",
    ),
    ("POST", "/folders", {"name": "F", "parent_id": None}, "parent_id", "parentId"),
    ("POST", "/keys", {"name": "k", "expires_at": "2030-01-01"}, "expires_at", "expiresAt"),
    (
        "POST",
        "/links/bulk",
        {
            "links": [
                {"url": "https://e.com/1"},
                {"url": "https://e.com/2", "starts_at": "2030-01-01"},
            ]
        },
        "links.1.starts_at",
        "links.1.startsAt",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "sent", "camel"), SNAKE_BODIES, ids=[c[3] for c in SNAKE_BODIES]
)
async def test_snake_case_fields_are_refused_naming_the_camel_case_one(
    api: Api,
    admin_key: str,
    service: ClyptService,
    method: str,
    path: str,
    body: dict[str, Any],
    sent: str,
    camel: str,
) -> None:
    before = await snapshot(service)
    r = await api.request(method, path, admin_key, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert r.json()["code"] == "bad_request"
    assert f"'{sent}'" in error and f"write {camel}" in error, error
    assert await snapshot(service) == before


async def test_update_refuses_snake_case_too(api: Api, admin_key: str) -> None:
    made = await api.post("/links", admin_key, json={"url": "https://e.com", "code": "snk"})
    assert made.status_code == 201, made.text
    r = await api.patch("/links/snk", admin_key, json={"utm_campaign": "x"})
    assert r.status_code == 400 and "write utmCampaign" in r.json()["error"]
    ok = await api.patch("/links/snk", admin_key, json={"utmCampaign": "x"})
    assert ok.status_code == 200 and ok.json()["utmCampaign"] == "x"


@pytest.mark.parametrize(
    ("path", "body", "expected", "internal"),
    [
        (
            "/links",
            {"url": "https://e.com", "startsAt": "2030-01-02", "expiresAt": "2030-01-01"},
            "expiresAt must be after startsAt",
            ("arguments", "expires_at", "starts_at"),
        ),
        ("/links/bulk", [1, 2], "request body: must be a JSON object", ("instance of", "Bulk")),
        ("/links/bulk", {"links": "x"}, "links: ", ("instance of", "Bulk")),
        ("/links", ["https://e.com"], "request body: must be a JSON object", ("LinkCreate",)),
        ("/tags", {"name": "t", "colour": "red"}, "colour: is not a known field", ("TagCreate",)),
        ("/links", {"url": "https://e.com", "maxClicks": 0}, "maxClicks: ", ("max_clicks",)),
    ],
)
async def test_errors_name_rest_fields_never_internal_ones(
    api: Api, admin_key: str, path: str, body: Any, expected: str, internal: tuple[str, ...]
) -> None:
    r = await api.post(path, admin_key, json=body)
    assert r.status_code in (400, 422), r.text
    error = r.json()["error"]
    assert expected in error, error
    for word in internal:
        assert word not in error, error


async def test_bulk_item_errors_name_rest_fields(api: Api, admin_key: str) -> None:
    r = await api.post(
        "/links/bulk",
        admin_key,
        json={"links": [{"url": "https://e.com/ok"}, {"url": "https://e.com", "maxClicks": 0},
                        {"url": "https://e.com", "startsAt": "2030-01-02",
                         "expiresAt": "2030-01-01"}]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    errors = r.json()["errors"]
    assert [e["index"] for e in errors] == [1, 2]
    assert errors[0]["error"].startswith("maxClicks: ")
    assert errors[1]["error"] == "expiresAt must be after startsAt"
