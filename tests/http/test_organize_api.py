"""/tags and /folders over REST: create, rename, recolor, nest, move, delete."""

from __future__ import annotations

import pytest

from clypt_mcp.core.service import ClyptService
from tests.http.rest import Api
from tests.http.seed import snapshot

pytestmark = pytest.mark.anyio


async def test_tags_are_created_listed_with_counts_renamed_and_deleted(
    api: Api, admin_key: str
) -> None:
    r = await api.post("/tags", admin_key, json={"name": "spring-sale", "color": "#ff8800"})
    assert r.status_code == 201
    tag = r.json()
    assert (tag["name"], tag["color"], tag["links"]) == ("spring-sale", "#ff8800", 0)
    await api.post("/links", admin_key, json={"url": "https://e.com", "tags": ["spring-sale"]})
    listed = (await api.get("/tags", admin_key)).json()["tags"]
    assert [(t["name"], t["links"]) for t in listed] == [("spring-sale", 1)]
    renamed = await api.patch(f"/tags/{tag['id']}", admin_key, json={"name": "summer-sale"})
    assert (renamed.json()["name"], renamed.json()["color"]) == ("summer-sale", "#ff8800")
    cleared = await api.patch(f"/tags/{tag['id']}", admin_key, json={"color": None})
    assert (cleared.json()["name"], cleared.json()["color"]) == ("summer-sale", None)
    gone = await api.delete(f"/tags/{tag['id']}", admin_key)
    assert gone.json()["id"] == tag["id"]
    links = (await api.get("/links", admin_key)).json()["links"]
    assert links[0]["tags"] == []
    assert (await api.get("/tags", admin_key)).json()["tags"] == []


async def test_a_taken_tag_name_is_409_tag_taken_in_any_case(api: Api, admin_key: str) -> None:
    first = (await api.post("/tags", admin_key, json={"name": "News"})).json()
    other = (await api.post("/tags", admin_key, json={"name": "Other"})).json()
    r = await api.post("/tags", admin_key, json={"name": "news"})
    assert r.status_code == 409 and r.json()["code"] == "tag_taken"
    r = await api.patch(f"/tags/{other['id']}", admin_key, json={"name": "NEWS"})
    assert r.status_code == 409 and r.json()["code"] == "tag_taken"
    assert first["id"] != other["id"]


@pytest.mark.parametrize(
    ("method", "body", "start"),
    [
        ("POST", {"name": ""}, "name: String should match pattern"),
        ("POST", {"name": "a,b"}, "name: String should match pattern"),
        ("POST", {"name": "x" * 51}, "name: String should match pattern"),
        ("POST", {"name": "ok", "color": "not a color!"}, "color: String should match pattern"),
        ("POST", {"color": "#ffffff"}, "name: is required"),
        ("PATCH", {"name": None}, "name: cannot be cleared"),
        ("PATCH", {"color": "#12345"}, "color: String should match pattern"),
    ],
)
async def test_bad_tag_input_is_422_and_writes_nothing(
    api: Api,
    admin_key: str,
    service: ClyptService,
    method: str,
    body: dict[str, object],
    start: str,
) -> None:
    tag = (await api.post("/tags", admin_key, json={"name": "keep"})).json()
    path = "/tags" if method == "POST" else f"/tags/{tag['id']}"
    before = await snapshot(service)
    r = await api.request(method, path, admin_key, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith(start)
    assert await snapshot(service) == before


async def test_folders_nest_with_parent_id_and_show_their_path(api: Api, admin_key: str) -> None:
    top = await api.post("/folders", admin_key, json={"name": "Marketing"})
    assert top.status_code == 201
    top_id = top.json()["id"]
    child = await api.post("/folders", admin_key, json={"name": "2026", "parentId": top_id})
    assert child.status_code == 201
    assert (child.json()["path"], child.json()["parentId"]) == ("Marketing/2026", top_id)
    await api.post("/links", admin_key, json={"url": "https://e.com", "folder": "Marketing/2026"})
    folders = (await api.get("/folders", admin_key)).json()["folders"]
    assert [(f["path"], f["links"]) for f in folders] == [("Marketing", 0), ("Marketing/2026", 1)]


async def test_patch_renames_and_moves_a_folder_and_null_parent_moves_it_to_the_top(
    api: Api, admin_key: str
) -> None:
    a = (await api.post("/folders", admin_key, json={"name": "A"})).json()
    b = (await api.post("/folders", admin_key, json={"name": "B"})).json()
    moved = await api.patch(f"/folders/{b['id']}", admin_key, json={"parentId": a["id"]})
    assert moved.json()["path"] == "A/B"
    renamed = await api.patch(f"/folders/{b['id']}", admin_key, json={"name": "Bee"})
    assert (renamed.json()["path"], renamed.json()["parentId"]) == ("A/Bee", a["id"])
    both = await api.patch(f"/folders/{b['id']}", admin_key, json={"name": "C", "parentId": None})
    assert (both.json()["path"], both.json()["parentId"]) == ("C", None)


async def test_folder_conflicts_and_bad_moves(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    a = (await api.post("/folders", admin_key, json={"name": "A"})).json()
    sub = (await api.post("/folders", admin_key, json={"name": "Sub", "parentId": a["id"]})).json()
    r = await api.post("/folders", admin_key, json={"name": "a"})
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    r = await api.patch(f"/folders/{sub['id']}", admin_key, json={"parentId": None, "name": "A"})
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    before = await snapshot(service)
    r = await api.patch(f"/folders/{a['id']}", admin_key, json={"parentId": sub["id"]})
    assert r.status_code == 422 and r.json()["error"].startswith("parent: cannot move 'A'")
    r = await api.post("/folders", admin_key, json={"name": "X", "parentId": "fld_nope"})
    assert r.status_code == 422 and r.json()["error"].startswith("parentId: no folder 'fld_nope'")
    r = await api.patch(f"/folders/{a['id']}", admin_key, json={"parentId": "fld_nope"})
    assert r.status_code == 422 and r.json()["error"].startswith("parentId: no folder")
    r = await api.patch(f"/folders/{a['id']}", admin_key, json={"name": None})
    assert r.status_code == 422 and r.json()["error"].startswith("name: cannot be cleared")
    r = await api.post("/folders", admin_key, json={"name": "a/b"})
    assert r.status_code == 422 and r.json()["error"].startswith("name: String should match")
    assert await snapshot(service) == before


async def test_deleting_a_folder_moves_its_links_and_subfolders_to_its_parent(
    api: Api, admin_key: str
) -> None:
    made = await api.post("/links", admin_key, json={"url": "https://e.com", "folder": "A/B/C"})
    folders = {f["path"]: f for f in (await api.get("/folders", admin_key)).json()["folders"]}
    r = await api.delete(f"/folders/{folders['A/B']['id']}", admin_key)
    assert r.status_code == 200 and r.json()["path"] == "A/B"
    after = [f["path"] for f in (await api.get("/folders", admin_key)).json()["folders"]]
    assert after == ["A", "A/C"]
    link = (await api.get(f"/links/{made.json()['id']}", admin_key)).json()
    assert link["folder"] == "A/C"


async def test_one_tag_folder_or_key_is_read_by_id_and_nested_folders_by_path(
    api: Api, admin_key: str, other_key: str
) -> None:
    tag = (await api.post("/tags", admin_key, json={"name": "Launch"})).json()
    for ref in (tag["id"], "launch"):
        got = await api.get(f"/tags/{ref}", admin_key)
        assert got.status_code == 200 and got.json() == tag
    top = (await api.post("/folders", admin_key, json={"name": "Marketing"})).json()
    sub = await api.post("/folders", admin_key, json={"name": "2026", "parentId": top["id"]})
    sub_folder = sub.json()
    for ref in (sub_folder["id"], "Marketing/2026", "marketing/2026"):
        got = await api.get(f"/folders/{ref}", admin_key)
        assert got.status_code == 200 and got.json()["id"] == sub_folder["id"], ref
    renamed = await api.patch("/folders/Marketing/2026", admin_key, json={"name": "2027"})
    assert renamed.status_code == 200 and renamed.json()["path"] == "Marketing/2027"
    assert (await api.delete("/folders/Marketing/2027", admin_key)).status_code == 200
    assert (await api.get("/folders/Marketing/2027", admin_key)).status_code == 404
    keys = (await api.get("/keys", admin_key)).json()["keys"]
    one = await api.get(f"/keys/{keys[0]['id']}", admin_key)
    assert one.status_code == 200 and one.json() == keys[0] and "secret" not in one.json()
    for path in (f"/tags/{tag['id']}", f"/folders/{top['id']}", f"/keys/{keys[0]['id']}"):
        assert (await api.get(path, other_key)).status_code == 404, path
