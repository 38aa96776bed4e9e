"""Traffic classes on the redirect path: unfurlers, assistants and crawlers are recorded but not
counted and never spend a single-use link; the QR code's marker counts as `qr` and never
reaches the destination; visits beyond CLYPT_CLICK_RATE are `suspect`; device-type routing."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import AnalyticsQuery, LinkUpdate
from clypt_mcp.store.sqlite import SqliteStore
from tests import agents
from tests.conftest import BASE_URL
from tests.http.test_redirects import IP_DE, IP_GB, IP_US, OWNER, Harness, harness

pytestmark = pytest.mark.anyio
__all__ = ["harness"]


def _counts(rows: list[Any]) -> dict[str, int]:
    return {r.key: r.clicks for r in rows}


async def test_unfurlers_assistants_and_crawlers_are_classed_and_never_counted(
    harness: Harness,
) -> None:
    link = await harness.link()
    unfurlers = list(agents.UNFURLERS.values())[:6]
    assistants = list(agents.ASSISTANTS.values())[:3]
    crawlers = list(agents.CRAWLERS.values())[:4]
    for ua in unfurlers + assistants + crawlers:
        assert (await harness.visit(link.code, ua=ua, ip=IP_US)).status_code == 302
    await harness.visit(link.code, ua=agents.DESKTOP_CHROME, ip=IP_DE)
    await harness.flush()
    harness.clock.advance(minutes=15)
    report = await harness.service.get_analytics(OWNER, AnalyticsQuery(link=link.code))
    assert report.clicks_in_period == 1
    assert report.unique_visitors == 1
    assert _counts(report.traffic) == {
        "preview": len(unfurlers),
        "ai_agent": len(assistants),
        "crawler": len(crawlers),
        "human": 1,
    }
    assert report.query.bots_included is False
    assert (await harness.service.get_link(OWNER, link.code)).clicks == 1


async def test_a_qr_visit_is_a_click_classed_qr_and_the_marker_stays_here(
    harness: Harness,
) -> None:
    link = await harness.link("https://example.com/landing?x=1")
    response = await harness.http.get(
        f"/{link.code}?qr=1", headers={"user-agent": agents.IPHONE_SAFARI}
    )
    assert response.status_code == 302
    assert response.headers["location"] == "https://example.com/landing?x=1"
    await harness.visit(link.code, ua=agents.DESKTOP_FIREFOX, ip=IP_GB)
    await harness.flush()
    harness.clock.advance(minutes=15)
    report = await harness.service.get_analytics(OWNER, AnalyticsQuery(link=link.code))
    assert report.clicks_in_period == 2
    assert _counts(report.traffic) == {"qr": 1, "human": 1}


async def test_the_qr_code_encodes_the_marker(harness: Harness) -> None:
    from clypt_mcp.core.qr import qr_url

    link = await harness.link()
    assert qr_url(link.short_url) == f"{link.short_url}?qr=1"


async def test_single_use_links_survive_ten_unfurlers_assistants_and_crawlers(
    harness: Harness,
) -> None:
    link = await harness.link("https://secret.example/invite", max_clicks=1)
    bots = [
        *list(agents.UNFURLERS.values())[:5],
        *list(agents.ASSISTANTS.values())[:3],
        agents.CRAWLERS["Googlebot"],
        agents.CRAWLERS["GPTBot"],
    ]
    assert len(bots) == 10
    for ua in bots:
        response = await harness.visit(link.code, ua=ua, ip=IP_US)
        assert response.status_code == 200, ua
        assert "secret.example" not in response.text
        assert "location" not in response.headers
    person = await harness.visit(link.code, ua=agents.IPHONE_SAFARI, ip=IP_GB)
    assert person.status_code == 302
    assert person.headers["location"] == "https://secret.example/invite"
    assert (await harness.visit(link.code, ua=agents.DESKTOP_CHROME, ip=IP_DE)).status_code == 410


async def test_password_links_show_crawlers_a_neutral_page(harness: Harness) -> None:
    link = await harness.link("https://secret.example/doc", password="hunter22")
    response = await harness.visit(link.code, ua=agents.UNFURLERS["Slack"])
    assert response.status_code == 200
    assert "secret.example" not in response.text and "password" not in response.text.lower()
    form = await harness.visit(link.code, ua=agents.DESKTOP_CHROME)
    assert 'type="password"' in form.text


async def test_visits_beyond_the_click_rate_are_suspect_but_still_redirect(
    harness: Harness,
) -> None:
    link = await harness.link(max_clicks=100)
    statuses = [
        (await harness.visit(link.code, ua=agents.DESKTOP_CHROME, ip=IP_GB)).status_code
        for _ in range(65)
    ]
    assert statuses == [302] * 65  # never refused for rate
    await harness.visit(link.code, ua=agents.DESKTOP_CHROME, ip=IP_DE)  # another address
    await harness.flush()
    harness.clock.advance(minutes=15)
    report = await harness.service.get_analytics(OWNER, AnalyticsQuery(link=link.code))
    assert report.clicks_in_period == 61
    assert _counts(report.traffic) == {"human": 61, "suspect": 5}
    store = harness.service.store
    assert isinstance(store, SqliteStore)
    spent = store.conn.execute("SELECT redirects FROM links WHERE code = ?", (link.code,))
    assert spent.fetchone()[0] == 66  # suspect visits still spend max_clicks


async def test_device_type_routing_keys_and_the_platform_key_wins(harness: Harness) -> None:
    link = await harness.link(
        "https://example.com/web",
        devices={
            "ios": "https://apps.apple.com/app",
            "mobile": "https://m.example.com/",
            "tablet": "https://tablet.example.com/",
        },
    )

    async def where(ua: str) -> str:
        return str((await harness.visit(link.code, ua=ua)).headers["location"])

    assert await where(agents.IPHONE_SAFARI) == "https://apps.apple.com/app"
    assert await where(agents.IPAD_SAFARI) == "https://apps.apple.com/app"
    assert await where(agents.ANDROID_CHROME) == "https://m.example.com/"
    assert await where(agents.ANDROID_TABLET_CHROME) == "https://tablet.example.com/"
    assert await where(agents.DESKTOP_CHROME) == "https://example.com/web"


async def test_devices_breakdown_is_the_device_type_and_os_tells_ios_from_android(
    harness: Harness,
) -> None:
    link = await harness.link()
    uas = [
        agents.IPHONE_SAFARI,
        agents.ANDROID_CHROME,
        agents.IPAD_SAFARI,
        agents.ANDROID_TABLET_CHROME,
        agents.DESKTOP_CHROME,
        agents.DESKTOP_FIREFOX,
        agents.DESKTOP_SAFARI,
        agents.DESKTOP_EDGE,
    ]
    for ua in uas:
        await harness.visit(link.code, ua=ua)
    await harness.flush()
    harness.clock.advance(minutes=15)
    report = await harness.service.get_analytics(OWNER, AnalyticsQuery(link=link.code))
    assert _counts(report.devices) == {"mobile": 2, "tablet": 2, "desktop": 4}
    assert _counts(report.os)["iOS"] == 2 and _counts(report.os)["Android"] == 2


async def test_variant_results_add_up_in_analytics_and_get_link(harness: Harness) -> None:
    link = await harness.link(
        "https://example.com/",
        variants=[
            {"url": "https://example.com/a", "label": "a"},
            {"url": "https://example.com/b", "label": "b"},
        ],
    )
    for i in range(200):
        await harness.visit(link.code, ua=agents.DESKTOP_CHROME, ip=f"198.51.100.{i % 100 + 1}")
    await harness.flush()
    harness.clock.advance(minutes=15)
    report = await harness.service.get_analytics(OWNER, AnalyticsQuery(link=link.code))
    assert [v.label for v in report.variants] == ["a", "b"]
    assert sum(v.clicks for v in report.variants) == 200
    # 100 visitors, each counted once per variant they were shown
    assert all(0 < v.unique_visitors <= min(v.clicks, 100) for v in report.variants)
    assert sum(v.unique_visitors for v in report.variants) >= 100
    assert round(sum(v.share for v in report.variants), 3) == 1.0
    assert report.variants[0].url == "https://example.com/a"
    shown = await harness.service.get_link(OWNER, link.code)
    assert shown.variants is not None
    assert {v.label: v.clicks for v in shown.variants} == {
        v.label: v.clicks for v in report.variants
    }
    rest = await harness.http.get(f"/api/v1/links/{link.id}/analytics", headers={"user-agent": "x"})
    assert rest.status_code in (401, 200)  # the REST shape is checked in test_analytics_api


async def test_a_change_reaches_this_process_s_next_redirect(harness: Harness) -> None:
    link = await harness.link("https://example.com/old")
    assert (await harness.visit(link.code)).headers["location"] == "https://example.com/old"
    await harness.service.update_link(OWNER, link.code, LinkUpdate(url="https://example.com/new"))
    assert (await harness.visit(link.code)).headers["location"] == "https://example.com/new"
    await harness.service.update_link(OWNER, link.code, LinkUpdate(disabled=True))
    assert (await harness.visit(link.code)).status_code == 410
    # a code asked for before it existed is looked up again once it is made
    assert (await harness.visit("fresh1")).status_code == 404
    await harness.link("https://example.com/fresh", code="fresh1")
    assert (await harness.visit("fresh1")).status_code == 302


@pytest.mark.serial  # a wall-clock bound
async def test_a_change_by_another_process_on_the_store_arrives_within_a_second(
    harness: Harness,
) -> None:
    link = await harness.link("https://example.com/old")
    assert (await harness.visit(link.code)).headers["location"] == "https://example.com/old"
    store = harness.service.store
    assert isinstance(store, SqliteStore)
    other = SqliteStore(store.path)  # another connection, as a stdio server on the file has
    await other.open()
    try:
        await ClyptService(other, base_url=BASE_URL).update_link(
            OWNER, link.code, LinkUpdate(url="https://example.com/new")
        )
        changed = time.monotonic()
        while True:
            location = (await harness.visit(link.code)).headers["location"]
            if location == "https://example.com/new":
                break
            assert time.monotonic() - changed < 1.0
            await anyio.sleep(0.05)
    finally:
        await other.close()


async def test_a_hostile_referer_reaches_analytics_as_invalid(harness: Harness) -> None:
    link = await harness.link()
    await harness.visit(
        link.code, ua=agents.DESKTOP_CHROME, referer="https://=cmd|x <script>.example/"
    )
    await harness.flush()
    harness.clock.advance(minutes=15)
    report = await harness.service.get_analytics(OWNER, AnalyticsQuery(link=link.code))
    text = report.model_dump_json()
    assert _counts(report.referrers) == {"invalid": 1}
    assert "=cmd" not in text and "<script" not in text
