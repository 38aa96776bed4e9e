"""/analytics and /links/{id}/analytics over REST: camelCase totals, breakdowns, parameters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ClickEvent
from tests.http.rest import Api

pytestmark = pytest.mark.anyio


async def _clicks(service: ClyptService, link_id: str, countries: list[str]) -> None:
    now = service.clock()
    events = [
        ClickEvent(
            link_id=link_id,
            workspace_id="default",
            at=now - timedelta(minutes=5),
            country=country,
            device="mobile",
            browser="Firefox",
            os="Android",
            referrer="news.example.com",
            visitor=f"v{i}",
        )
        for i, country in enumerate(countries)
    ]
    await service.store.record_clicks(events)


async def test_workspace_analytics_are_camel_case_with_breakdowns(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    one = (await api.post("/links", admin_key, json={"url": "https://e.com/1"})).json()
    two = (await api.post("/links", admin_key, json={"url": "https://e.com/2"})).json()
    await _clicks(service, one["id"], ["US", "US", "FR"])
    await _clicks(service, two["id"], ["DE"])
    r = await api.get("/analytics", admin_key, params={"period": "24h"})
    assert r.status_code == 200
    stats = r.json()
    assert (stats["totalClicks"], stats["clicksInPeriod"]) == (4, 4)
    assert stats["query"]["botsIncluded"] is False and stats["query"]["timezone"] == "UTC"
    assert {"key": "US", "clicks": 2, "conversions": 0} in stats["countries"]
    assert (
        stats["links"][0] == {"key": one["code"], "clicks": 3, "conversions": 0}
        or stats["links"][0]["clicks"] == 3
    )
    assert sum(b["clicks"] for b in stats["timeseries"]) == 4


async def test_link_analytics_cover_one_link(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    one = (await api.post("/links", admin_key, json={"url": "https://e.com/1"})).json()
    two = (await api.post("/links", admin_key, json={"url": "https://e.com/2"})).json()
    await _clicks(service, one["id"], ["US", "US"])
    await _clicks(service, two["id"], ["DE"])
    r = await api.get(f"/links/{two['id']}/analytics", admin_key, params={"period": "7d"})
    assert r.status_code == 200
    assert r.json()["clicksInPeriod"] == 1
    assert r.json()["countries"] == [{"key": "DE", "clicks": 1, "conversions": 0}]
    r = await api.get(f"/links/{two['id']}/analytics", admin_key, params={"link": one["id"]})
    assert r.status_code == 400 and r.json()["error"].startswith("link: is not a known")


async def test_tag_and_folder_filters(api: Api, admin_key: str, service: ClyptService) -> None:
    body = {"url": "https://e.com/1", "tags": ["promo"], "folder": "Ads/2026"}
    tagged = (await api.post("/links", admin_key, json=body)).json()
    plain = (await api.post("/links", admin_key, json={"url": "https://e.com/2"})).json()
    await _clicks(service, tagged["id"], ["US"])
    await _clicks(service, plain["id"], ["US", "US"])
    for params in ({"tag": "promo"}, {"folder": "Ads"}):
        r = await api.get("/analytics", admin_key, params=params)
        assert r.json()["clicksInPeriod"] == 1, params


@pytest.mark.parametrize(
    ("params", "start"),
    [
        ({"period": "1y"}, "period: Input should be"),
        ({"interval": "minute"}, "interval: Input should be"),
        ({"top": "51"}, "top: Input should be less than or equal to 50"),
        ({"timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not an IANA time zone"),
        ({"start": "2026-01-02", "end": "2026-01-01"}, "end must be after start"),
        ({"start": "yesterday"}, "start: Input should be a valid datetime"),
    ],
)
async def test_bad_analytics_parameters_are_422_naming_them(
    api: Api, admin_key: str, params: dict[str, str], start: str
) -> None:
    r = await api.get("/analytics", admin_key, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith(start)


async def test_timezone_interval_and_bots(api: Api, admin_key: str, service: ClyptService) -> None:
    link = (await api.post("/links", admin_key, json={"url": "https://e.com/1"})).json()
    bot = ClickEvent(
        link_id=link["id"], workspace_id="default", at=service.clock(), bot=True, country="US"
    )
    await service.store.record_clicks([bot])
    params = {"timezone": "Europe/Paris", "interval": "hour", "period": "24h"}
    without = (await api.get("/analytics", admin_key, params=params)).json()
    assert without["query"]["timezone"] == "Europe/Paris"
    assert without["query"]["interval"] == "hour"
    assert without["clicksInPeriod"] == 0
    with_bots = await api.get("/analytics", admin_key, params={**params, "includeBots": "true"})
    assert with_bots.json()["clicksInPeriod"] == 1
    assert with_bots.json()["query"]["botsIncluded"] is True


async def test_link_analytics_and_the_link_show_each_variant_s_results(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    body = {
        "url": "https://e.com/",
        "variants": [{"url": "https://e.com/a", "label": "a"}, {"url": "https://e.com/b"}],
    }
    link = (await api.post("/links", admin_key, json=body)).json()
    now = service.clock()
    await service.store.record_clicks(
        [
            ClickEvent(
                link_id=link["id"],
                workspace_id="default",
                at=now - timedelta(minutes=5),
                variant="a" if i % 4 else "#2",
                visitor=f"v{i % 50}",
            )
            for i in range(200)
        ]
    )
    stats = (await api.get(f"/links/{link['id']}/analytics", admin_key)).json()
    variants = {v["label"]: v for v in stats["variants"]}
    assert set(variants) == {"a", "#2"}
    assert variants["a"]["clicks"] + variants["#2"]["clicks"] == 200
    assert variants["a"]["url"] == "https://e.com/a"
    assert {"share", "uniqueVisitors", "previousClicks"} <= set(variants["a"])
    assert stats["traffic"] == [{"key": "human", "clicks": 200, "conversions": 0}]
    assert stats["cities"] == [] and stats["citiesNote"]
    shown = (await api.get(f"/links/{link['id']}", admin_key)).json()
    assert [v["clicks"] for v in shown["variants"]] == [
        variants["a"]["clicks"],
        variants["#2"]["clicks"],
    ]
