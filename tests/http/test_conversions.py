"""#15 Conversions: click ids on tracked links' redirects, over both stores."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import Scope
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


# --- POST /conversions ----------------------------------------------------------------------


async def tracked_clicks(
    api: Api, key: str, service: ClyptService, n: int
) -> tuple[dict[str, Any], list[str]]:
    """A tracked link visited `n` times, and the click ids its visits got, stored."""
    link = (
        await api.post(
            "/links", key, json={"url": "https://shop.example/", "trackConversions": True}
        )
    ).json()
    ids = [dict(params(await visit(api, link["code"])))["clypt_cid"] for _ in range(n)]
    await stored_click_ids(service, link["id"], n)
    return link, ids


async def conversion_count(service: ClyptService) -> int:
    return int(
        await service.store.db.run(  # type: ignore[attr-defined]
            lambda q: q.scalar("SELECT COUNT(*) FROM conversions")
        )
    )


async def test_a_conversion_is_recorded_and_attributed_to_its_click(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    link, ids = await tracked_clicks(api, admin_key, service, 1)
    body = {"clickId": ids[0], "event": "purchase", "value": 4999, "currency": "EUR"}
    made = await api.post("/conversions", admin_key, json=body)
    assert made.status_code == 201, made.text
    got = made.json()
    assert got["event"] == "purchase" and got["value"] == 4999 and got["currency"] == "EUR"
    assert got["linkId"] == link["id"] and got["code"] == link["code"]
    assert got["clickId"] == ids[0] and got["device"] == "desktop"
    assert got["id"].startswith("cnv_")
    assert await conversion_count(service) == 1


async def test_the_same_external_id_and_event_is_the_first_conversion(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    _, ids = await tracked_clicks(api, admin_key, service, 2)
    first = await api.post(
        "/conversions",
        admin_key,
        json={"clickId": ids[0], "event": "purchase", "externalId": "order-1", "value": 100,
              "currency": "USD"},
    )  # fmt: skip
    assert first.status_code == 201
    again = await api.post(
        "/conversions",
        admin_key,
        json={"clickId": ids[1], "event": "purchase", "externalId": "order-1", "value": 999,
              "currency": "USD"},
    )  # fmt: skip
    assert again.status_code == 200
    assert again.json() == first.json() | {"duplicate": True}
    assert first.json()["duplicate"] is False
    other_event = await api.post(
        "/conversions",
        admin_key,
        json={"clickId": ids[0], "event": "signup", "externalId": "order-1"},
    )
    assert other_event.status_code == 201
    assert await conversion_count(service) == 2


async def test_bad_conversions_fail_clearly_and_change_nothing(
    api: Api, admin_key: str, other_key: str, make_key: KeyFactory, service: ClyptService
) -> None:
    _, ids = await tracked_clicks(api, admin_key, service, 1)
    unknown = await api.post(
        "/conversions", admin_key, json={"clickId": "AAAAAAAAAAAAAAAA", "event": "signup"}
    )
    assert unknown.status_code == 404
    assert "AAAAAAAAAAAAAAAA" in unknown.json()["error"] and "clickId" in unknown.json()["error"]
    foreign = await api.post("/conversions", other_key, json={"clickId": ids[0], "event": "signup"})
    assert foreign.status_code == 404 and ids[0] in foreign.json()["error"]
    for body, field in [
        ({"clickId": ids[0], "event": "purchase", "value": 5}, "currency"),
        ({"clickId": ids[0], "event": "purchase", "value": 5, "currency": "euro"}, "currency"),
        ({"clickId": ids[0], "event": "purchase", "value": -1, "currency": "EUR"}, "value"),
        ({"clickId": ids[0], "event": ""}, "event"),
        ({"clickId": ids[0]}, "event"),
        ({"clickId": ids[0], "event": "x", "occurredAt": "2020-01-01T00:00:00Z"}, "occurredAt"),
        ({"clickId": ids[0], "event": "x", "occurredAt": "2999-01-01T00:00:00Z"}, "occurredAt"),
    ]:
        bad = await api.post("/conversions", admin_key, json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert field in bad.json()["error"], (field, bad.json())
    unknown_field = {"clickId": ids[0], "event": "x", "color": "red"}
    bad = await api.post("/conversions", admin_key, json=unknown_field)
    assert bad.status_code == 400 and "color" in bad.json()["error"]
    links_only = await make_key(Scope.LINKS_WRITE)
    refused = await api.post("/conversions", links_only, json={"clickId": ids[0], "event": "x"})
    assert refused.status_code == 403 and "conversions:write" in refused.text
    assert await conversion_count(service) == 0


async def test_sixteen_clients_at_once_never_count_an_external_id_twice(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    _, ids = await tracked_clicks(api, admin_key, service, 4)
    answers: list[tuple[int, str]] = []

    async def client(n: int) -> None:
        for order in range(8):  # every client reports the same 8 orders, each for some click
            body = {"clickId": ids[(n + order) % 4], "event": "purchase",
                    "externalId": f"order-{order}", "value": 1000, "currency": "EUR"}  # fmt: skip
            response = await api.post("/conversions", admin_key, json=body)
            answers.append((response.status_code, response.json()["id"]))

    async with anyio.create_task_group() as tg:
        for n in range(16):
            tg.start_soon(client, n)
    assert sorted(status for status, _ in answers).count(201) == 8
    assert len({cid for _, cid in answers}) == 8
    assert await conversion_count(service) == 8
    revenue = await service.store.db.run(  # type: ignore[attr-defined]
        lambda q: q.all(
            "SELECT SUM(conversions), SUM(revenue) FROM conversion_rollups "
            "WHERE dim = '*' AND grain = 900 AND link_id <> ''"
        )
    )
    assert [tuple(int(v) for v in r) for r in revenue] == [(8, 8000)]


# --- analytics ------------------------------------------------------------------------------


async def test_conversions_show_in_analytics_for_every_scope(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    link = (
        await api.post(
            "/links",
            admin_key,
            json={
                "url": "https://shop.example/",
                "trackConversions": True,
                "tags": ["promo"],
                "folder": "Shop",
                "variants": [
                    {"url": "https://a.shop.example/", "label": "A"},
                    {"url": "https://b.shop.example/", "label": "B"},
                ],
            },
        )
    ).json()
    visits = []
    for _ in range(40):
        location = await visit(api, link["code"])
        visits.append(("A" if "//a." in location else "B", dict(params(location))["clypt_cid"]))
    await stored_click_ids(service, link["id"], 40)
    expected = {"purchase": 0, "signup": 0}
    revenue: dict[str, int] = {}
    by_variant = {"A": 0, "B": 0}
    statuses = []
    for i in range(30):
        variant, cid = visits[i]
        body: dict[str, Any]
        if i < 24:  # orders o0..o19, the last four again (each counted once)
            currency, value = ("USD", 500) if i % 20 < 5 else ("EUR", 1000)
            body = {"clickId": cid, "event": "purchase", "externalId": f"o{i % 20}",
                    "value": value, "currency": currency}  # fmt: skip
            if i < 20:
                expected["purchase"] += 1
                by_variant[variant] += 1
                revenue[currency] = revenue.get(currency, 0) + value
        elif i < 28:
            body = {"clickId": cid, "event": "signup"}
            expected["signup"] += 1
            by_variant[variant] += 1
        else:
            body = {"clickId": f"unknownClick{i:04d}", "event": "signup"}
        statuses.append((await api.post("/conversions", admin_key, json=body)).status_code)
    assert statuses == [201] * 20 + [200] * 4 + [201] * 4 + [404] * 2
    total = sum(expected.values())
    assert revenue == {"EUR": 15000, "USD": 2500}
    for path, params_ in [
        (f"/links/{link['id']}/analytics", {}),
        ("/analytics", {"tag": "promo"}),
        ("/analytics", {"folder": "Shop"}),
        ("/analytics", {}),
    ]:
        got = (await api.get(path, admin_key, params=params_)).json()
        assert got["conversions"] == total, (path, params_)
        assert got["revenue"] == revenue
        assert got["conversionRate"] == round(total / 40, 4)
        assert {e["key"]: e["conversions"] for e in got["events"]} == expected
        assert {e["key"]: e["revenue"] for e in got["events"]}["purchase"] == revenue
        assert sum(b["conversions"] for b in got["timeseries"]) == total
        assert {c["key"]: c["conversions"] for c in got["countries"]} == {"unknown": total}
        assert {c["key"]: c["conversions"] for c in got["devices"]} == {"desktop": total}
        assert {c["key"]: c["conversions"] for c in got["links"]} == {link["code"]: total}
        assert got["previous"]["conversions"] == 0 and got["previous"]["revenue"] == {}
    one = (await api.get(f"/links/{link['id']}/analytics", admin_key)).json()
    assert {v["label"]: v["conversions"] for v in one["variants"]} == by_variant
    for v in one["variants"]:
        assert v["conversionRate"] == round(by_variant[v["label"]] / v["clicks"], 4)
    from clypt_mcp.models import AnalyticsQuery, Principal

    mcp_view = await service.get_analytics(
        Principal(workspace_id="default"), AnalyticsQuery(link=link["id"])
    )
    assert mcp_view.conversions == total and mcp_view.revenue == revenue
    assert {v.label: v.conversions for v in mcp_view.variants} == by_variant


async def test_a_click_older_than_ninety_days_takes_no_conversion(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    from datetime import UTC, datetime, timedelta

    from clypt_mcp.models import ClickEvent

    link = (await api.post("/links", admin_key, json={"url": "https://shop.example/"})).json()
    now = datetime.now(UTC)
    await service.store.record_clicks(
        [
            ClickEvent(
                link["id"], "default", now - timedelta(days=91), click_id="oldClickId000001"
            ),
            ClickEvent(
                link["id"], "default", now - timedelta(days=89), click_id="newClickId000001"
            ),
        ]
    )
    old = await api.post(
        "/conversions", admin_key, json={"clickId": "oldClickId000001", "event": "x"}
    )
    assert old.status_code == 404 and "oldClickId000001" in old.json()["error"]
    assert "90 days" in old.json()["error"]
    ok = await api.post(
        "/conversions", admin_key, json={"clickId": "newClickId000001", "event": "x"}
    )
    assert ok.status_code == 201
    assert await conversion_count(service) == 1


async def test_a_link_deleted_for_good_takes_its_conversions_out_of_the_workspace(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    kept, kept_ids = await tracked_clicks(api, admin_key, service, 2)
    gone, gone_ids = await tracked_clicks(api, admin_key, service, 3)
    for cid in kept_ids + gone_ids:
        body = {"clickId": cid, "event": "purchase", "value": 100, "currency": "EUR"}
        assert (await api.post("/conversions", admin_key, json=body)).status_code == 201
    whole = (await api.get("/analytics", admin_key)).json()
    assert whole["conversions"] == 5 and whole["revenue"] == {"EUR": 500}
    assert {c["key"]: c["conversions"] for c in whole["links"]} == {
        kept["code"]: 2,
        gone["code"]: 3,
    }
    deleted = await api.delete(f"/links/{gone['id']}", admin_key, params={"permanent": "true"})
    assert deleted.status_code == 200, deleted.text
    whole = (await api.get("/analytics", admin_key)).json()
    assert whole["conversions"] == 2 and whole["revenue"] == {"EUR": 200}
    assert {c["key"]: c["conversions"] for c in whole["links"]} == {kept["code"]: 2}
    assert {e["key"]: e["conversions"] for e in whole["events"]} == {"purchase": 2}


async def test_links_beyond_top_fold_their_conversions_into_other(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    made = [await tracked_clicks(api, admin_key, service, n) for n in (3, 2, 1)]
    for _, ids in made:
        for cid in ids:
            body = {"clickId": cid, "event": "signup"}
            assert (await api.post("/conversions", admin_key, json=body)).status_code == 201
    got = (await api.get("/analytics", admin_key, params={"top": 1})).json()
    first = made[0][0]["code"]
    assert {c["key"]: (c["clicks"], c["conversions"]) for c in got["links"]} == {
        first: (3, 3),
        "other": (3, 3),
    }
    assert got["conversions"] == 6
