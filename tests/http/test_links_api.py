"""/links over REST: camelCase in and out, paging, updates and clears, deletes, bulk, QR."""

from __future__ import annotations

import struct

import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import Scope
from tests.conftest import BASE_URL
from tests.http.conftest import KeyFactory
from tests.http.rest import Api
from tests.http.seed import snapshot

pytestmark = pytest.mark.anyio


async def test_create_takes_camel_case_and_answers_the_link_in_camel_case(
    api: Api, admin_key: str
) -> None:
    r = await api.post(
        "/links",
        admin_key,
        json={
            "url": "https://example.com/spring",
            "code": "spring-26",
            "title": "Spring",
            "tags": ["sale", "Sale", "news"],
            "folder": "Marketing/2026",
            "utmSource": "newsletter",
            "utmMedium": "email",
            "expiresAt": "2030-01-01T00:00:00Z",
            "maxClicks": 5,
            "password": "hunter22",
            "variants": [{"url": "https://example.com/b", "weight": 3, "label": "B"}],
            "geo": {"fr": "https://example.fr/"},
            "devices": {"ios": "https://apps.example.com/ios"},
        },
    )
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["shortUrl"] == f"{BASE_URL}/spring-26"
    assert link["tags"] == ["news", "sale"]
    assert link["folder"] == "Marketing/2026"
    assert (link["utmSource"], link["utmMedium"]) == ("newsletter", "email")
    assert link["expiresAt"] == "2030-01-01T00:00:00Z"
    assert link["hasPassword"] is True
    assert "password" not in link and "hunter22" not in r.text
    assert link["geo"] == {"FR": "https://example.fr/"}
    assert link["devices"] == {"ios": "https://apps.example.com/ios"}
    assert link["status"] == "active"
    got = await api.get(f"/links/{link['id']}", admin_key)
    assert got.json() == link


async def test_a_taken_code_is_409_code_taken(api: Api, admin_key: str) -> None:
    body = {"url": "https://example.com/a", "code": "launch"}
    assert (await api.post("/links", admin_key, json=body)).status_code == 201
    r = await api.post("/links", admin_key, json=body)
    assert r.status_code == 409
    assert r.json() == {
        "error": "code 'launch' is taken — pick another or omit code",
        "code": "code_taken",
    }


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"url": "ftp://example.com/f"}, "url:", "http:// or https://"),
        ({"url": "https://e.com", "code": "api"}, "code:", "reserved"),
        ({"url": "https://e.com", "code": "ab"}, "code:", "3-64"),
        ({"url": "https://e.com", "title": "t" * 201}, "title:", "200"),
        ({"url": "https://e.com", "tags": [f"t{i}" for i in range(11)]}, "tags:", "10"),
        ({"url": "https://e.com", "utmSource": "no spaces"}, "utmSource:", "pattern"),
        ({"url": "https://e.com", "maxClicks": 0}, "maxClicks:", "greater than or equal to 1"),
        ({"url": "https://e.com", "password": "abc"}, "password:", "at least 4"),
        (
            {"url": "https://e.com", "startsAt": "2030-01-02", "expiresAt": "2030-01-01"},
            "expiresAt must be after startsAt",
            "",
        ),
        ({"url": f"{BASE_URL}/loop"}, "url:", "loop"),
        ({"title": "no url"}, "url:", "is required"),
    ],
)
async def test_bad_link_input_is_422_naming_the_field_and_rule_and_writes_nothing(
    api: Api, admin_key: str, service: ClyptService, body: dict[str, object], field: str, rule: str
) -> None:
    before = await snapshot(service)
    r = await api.post("/links", admin_key, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_input"
    assert field in r.json()["error"] and rule in r.json()["error"]
    assert await snapshot(service) == before


async def test_list_filters_sorts_and_pages_with_a_cursor(api: Api, admin_key: str) -> None:
    for i in range(5):
        body = {"url": f"https://example.com/{i}", "code": f"code-{i}", "tags": ["even"]}
        if i % 2:
            body = {"url": f"https://example.com/{i}", "code": f"code-{i}", "title": "odd one"}
        assert (await api.post("/links", admin_key, json=body)).status_code == 201
    page = (await api.get("/links", admin_key, params={"limit": 2, "sort": "code"})).json()
    assert [link["code"] for link in page["links"]] == ["code-0", "code-1"]
    assert page["total"] == 5 and page["nextCursor"]
    params = {"limit": 2, "sort": "code", "cursor": page["nextCursor"]}
    second = (await api.get("/links", admin_key, params=params)).json()
    assert [link["code"] for link in second["links"]] == ["code-2", "code-3"]
    tagged = (await api.get("/links", admin_key, params={"tag": "even"})).json()
    assert tagged["total"] == 3
    searched = (await api.get("/links", admin_key, params={"q": "odd"})).json()
    assert {link["code"] for link in searched["links"]} == {"code-1", "code-3"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "101"}, "limit: Input should be less than or equal to 100"),
        ({"limit": "lots"}, "limit: Input should be a valid integer"),
        ({"sort": "random"}, "sort: Input should be"),
        ({"status": "gone"}, "status: Input should be"),
        ({"q": "q" * 201}, "q: String should have at most 200 characters"),
        ({"cursor": "garbage"}, "cursor: not a cursor"),
    ],
)
async def test_bad_list_parameters_are_422_named_as_sent(
    api: Api, admin_key: str, params: dict[str, str], message: str
) -> None:
    r = await api.get("/links", admin_key, params=params)
    assert r.status_code == 422
    assert r.json()["error"].startswith(message)


async def test_a_repeated_query_parameter_is_400(api: Api, admin_key: str) -> None:
    r = await api.get("/links?tag=a&tag=b", admin_key)
    assert r.status_code == 400
    assert r.json()["error"].startswith("tag: given more than once")


async def test_patch_keeps_absent_fields_and_clears_null_ones(api: Api, admin_key: str) -> None:
    made = await api.post(
        "/links",
        admin_key,
        json={"url": "https://e.com/a", "title": "T", "notes": "N", "tags": ["x"], "folder": "F"},
    )
    link_id = made.json()["id"]
    r = await api.patch(f"/links/{link_id}", admin_key, json={"title": None, "utmCampaign": "c1"})
    assert r.status_code == 200
    link = r.json()
    assert link["title"] is None and link["notes"] == "N"
    assert link["tags"] == ["x"] and link["folder"] == "F"
    assert link["utmCampaign"] == "c1"
    cleared = await api.patch(f"/links/{link_id}", admin_key, json={"tags": None, "folder": None})
    assert cleared.json()["tags"] == [] and cleared.json()["folder"] is None


async def test_patch_rejects_clearing_the_url_and_a_taken_code(api: Api, admin_key: str) -> None:
    await api.post("/links", admin_key, json={"url": "https://e.com/a", "code": "first"})
    second = (await api.post("/links", admin_key, json={"url": "https://e.com/b"})).json()
    r = await api.patch(f"/links/{second['id']}", admin_key, json={"url": None})
    assert r.status_code == 422
    assert "url cannot be cleared" in r.json()["error"]
    r = await api.patch(f"/links/{second['id']}", admin_key, json={"code": "first"})
    assert r.status_code == 409
    assert r.json()["code"] == "code_taken"


async def test_delete_is_soft_then_restorable_and_permanent_needs_links_delete(
    api: Api, admin_key: str, make_key: KeyFactory
) -> None:
    link_id = (await api.post("/links", admin_key, json={"url": "https://e.com/a"})).json()["id"]
    r = await api.delete(f"/links/{link_id}", admin_key)
    assert r.json() == {"deleted": True, "permanent": False}
    assert (await api.get(f"/links/{link_id}", admin_key)).json()["status"] == "deleted"
    restored = await api.patch(f"/links/{link_id}", admin_key, json={"deleted": False})
    assert restored.json()["status"] == "active"
    writer = await make_key(Scope.LINKS_WRITE)
    r = await api.delete(f"/links/{link_id}", writer, params={"permanent": "true"})
    assert r.status_code == 403
    assert "links:delete" in r.json()["error"]
    r = await api.delete(f"/links/{link_id}", admin_key, params={"permanent": "true"})
    assert r.json() == {"deleted": True, "permanent": True}
    assert (await api.get(f"/links/{link_id}", admin_key)).status_code == 404
    r = await api.delete(f"/links/{link_id}", admin_key, params={"permanent": "maybe"})
    assert r.status_code == 422
    assert r.json()["error"].startswith("permanent:")


async def test_bulk_creates_good_items_and_reports_bad_ones_by_index(
    api: Api, admin_key: str
) -> None:
    items = [
        {"url": "https://e.com/1", "code": "bulk-1"},
        {"url": "ftp://nope"},
        {"url": "https://e.com/3", "bogus": True},
        {"url": "https://e.com/4", "code": "bulk-1"},
    ]
    r = await api.post("/links/bulk", admin_key, json={"links": items})
    assert r.status_code == 201
    out = r.json()
    assert [link["code"] for link in out["created"]] == ["bulk-1"]
    assert [(e["index"], e["code"]) for e in out["errors"]] == [
        (1, "invalid_input"),
        (2, "invalid_input"),
        (3, "code_taken"),
    ]
    assert out["errors"][1]["error"].startswith("bogus: is not a known field")
    none_made = await api.post("/links/bulk", admin_key, json={"links": [{"url": "x"}]})
    assert none_made.status_code == 200
    assert none_made.json()["created"] == []


async def test_bulk_takes_1_to_100_items(api: Api, admin_key: str, service: ClyptService) -> None:
    before = await snapshot(service)
    many = [{"url": f"https://e.com/{i}"} for i in range(101)]
    for items in (many, []):
        r = await api.post("/links/bulk", admin_key, json={"links": items})
        assert r.status_code == 422
        assert r.json()["error"].startswith("links: List should have at")
    assert await snapshot(service) == before
    r = await api.post("/links/bulk", admin_key, json={"links": many[:100]})
    assert r.status_code == 201 and len(r.json()["created"]) == 100


async def test_qr_is_a_png_or_svg_of_the_asked_size(api: Api, admin_key: str) -> None:
    link_id = (await api.post("/links", admin_key, json={"url": "https://e.com/a"})).json()["id"]
    png = await api.get(f"/links/{link_id}/qr", admin_key, params={"size": 200})
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", png.content[16:24]) == (200, 200)
    default = await api.get(f"/links/{link_id}/qr", admin_key)
    assert struct.unpack(">II", default.content[16:24]) == (300, 300)
    svg = await api.get(f"/links/{link_id}/qr", admin_key, params={"format": "svg", "margin": 0})
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.startswith("<svg") and 'width="300"' in svg.text


@pytest.mark.parametrize(
    ("params", "start"),
    [
        ({"size": "63"}, "size: Input should be greater than or equal to 64"),
        ({"size": "4096"}, "size: Input should be less than or equal to 2048"),
        ({"margin": "-1"}, "margin:"),
        ({"format": "gif"}, "format: Input should be 'png' or 'svg'"),
    ],
)
async def test_bad_qr_parameters_are_422(
    api: Api, admin_key: str, params: dict[str, str], start: str
) -> None:
    link_id = (await api.post("/links", admin_key, json={"url": "https://e.com/a"})).json()["id"]
    r = await api.get(f"/links/{link_id}/qr", admin_key, params=params)
    assert r.status_code == 422
    assert r.json()["error"].startswith(start)


async def test_hints_name_endpoints_not_mcp_tools(api: Api, admin_key: str) -> None:
    missing = (await api.get("/links/nope123", admin_key)).json()
    assert "find it with GET /api/v1/links" in missing["error"]
    bad_cursor = (await api.get("/links", admin_key, params={"cursor": "garbage"})).json()
    assert "pass nextCursor unchanged" in bad_cursor["error"]
    assert "list_links" not in missing["error"] + bad_cursor["error"]
