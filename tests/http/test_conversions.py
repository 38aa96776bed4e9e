"""#15 Conversions: click ids on tracked links' redirects, over both stores."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import pytest

from clypt_mcp.core.service import ClyptService
from tests.http.conftest import KeyFactory
from tests.http.rest import Api

pytestmark = pytest.mark.anyio
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"


def params(location: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(location).query, keep_blank_values=True)


async def visit(api: Api, code: str) -> str:
    response = await api.http.get(f"/{code}", headers={"user-agent": DESKTOP})
    assert response.status_code == 302, response.text
    return str(response.headers["location"])


async def stored_click_ids(service: ClyptService, link_id: str, n: int) -> list[str | None]:
    """The click ids kept with the link's clicks, once `n` clicks are in the store."""
    with anyio.fail_after(10):
        while True:
            rows = await service.store.db.run(  # type: ignore[attr-defined]
                lambda q: q.all(
                    "SELECT click_id FROM clicks WHERE link_id = :l ORDER BY id", {"l": link_id}
                )
            )
            if len(rows) >= n:
                return [r[0] for r in rows]
            await anyio.sleep(0.05)


async def test_a_tracked_link_gives_every_visit_its_own_click_id(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    made = await api.post(
        "/links",
        admin_key,
        json={"url": "https://shop.example/landing?ref=ad#top", "trackConversions": True},
    )
    assert made.status_code == 201, made.text
    link: dict[str, Any] = made.json()
    assert link["trackConversions"] is True
    locations = [await visit(api, link["code"]) for _ in range(100)]
    ids = []
    for location in locations:
        assert location.startswith("https://shop.example/landing?ref=ad&clypt_cid=")
        assert location.endswith("#top")
        found = dict(params(location))
        assert found["ref"] == "ad"
        ids.append(found["clypt_cid"])
    assert len(set(ids)) == 100
    assert all(len(i) >= 12 and i.replace("-", "").replace("_", "").isalnum() for i in ids)
    stored = await stored_click_ids(service, link["id"], 100)
    assert sorted(str(i) for i in stored) == sorted(ids)


async def test_an_untracked_link_keeps_its_destination_and_stores_no_click_id(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    made = await api.post("/links", admin_key, json={"url": "https://shop.example/p?x=1"})
    link = made.json()
    assert link["trackConversions"] is False
    for _ in range(3):
        assert await visit(api, link["code"]) == "https://shop.example/p?x=1"
    assert await stored_click_ids(service, link["id"], 3) == [None, None, None]


async def test_tracking_is_switched_on_and_off_by_update(
    api: Api, admin_key: str, make_key: KeyFactory
) -> None:
    link = (await api.post("/links", admin_key, json={"url": "https://shop.example/"})).json()
    on = await api.patch(f"/links/{link['id']}", admin_key, json={"trackConversions": True})
    assert on.json()["trackConversions"] is True
    assert "clypt_cid" in dict(params(await visit(api, link["code"])))
    off = await api.patch(f"/links/{link['id']}", admin_key, json={"trackConversions": False})
    assert off.json()["trackConversions"] is False
    assert await visit(api, link["code"]) == "https://shop.example/"
    bad = await api.patch(f"/links/{link['id']}", admin_key, json={"trackConversions": "maybe"})
    assert bad.status_code == 422
    assert "trackConversions" in bad.text
