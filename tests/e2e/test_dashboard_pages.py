# ruff: noqa: F811 — test functions take the fixtures imported from test_browser by name
"""The rest of the dashboard in a real headless Chromium: sign-in with a one-time link, the
link form's variants and routing rules, the tag and folder pages, and the tag, folder and
workspace analytics pages. axe-core must find no serious or critical violation on any of
them; a screenshot of each goes to `.ci/artifacts/dashboard/` (git-ignored)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
import uvicorn

from clypt_mcp.config import Settings
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.http.oauth import create_signin_link
from clypt_mcp.models import Principal
from clypt_mcp.store.base import Store
from tests.e2e.test_browser import Browser, browser  # noqa: F401 (fixtures)
from tests.e2e.test_dashboard import check_page
from tests.http.live import free_port, started

pytestmark = pytest.mark.anyio
OWNER = Principal(workspace_id="default")


@pytest.fixture
async def site(store: Store) -> AsyncIterator[tuple[ClyptService, str]]:
    """The whole app (OAuth pages included) on a free port that is also its base URL."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    service = ClyptService(store, base_url=origin)
    app = create_app(
        service, Settings(base_url=origin, rate_limit="1000/minute"), store=service.store
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await started(server)
        try:
            yield service, origin
        finally:
            server.should_exit = True


async def test_link_sign_in_variants_tags_folders_and_analytics_pages(
    browser: Browser, site: tuple[ClyptService, str]
) -> None:
    service, origin = site
    await browser.call("POST", "/timeouts", {"script": 60_000})
    await browser.call("POST", "/window/rect", {"width": 1100, "height": 1400})

    # sign in with a one-time link opened in the browser
    link = await create_signin_link(
        store_of(service).oauth,
        origin,
        "default",
        ["links:read", "links:write", "tags:read", "tags:write", "folders:read",
         "folders:write", "analytics:read"],
    )  # fmt: skip
    await browser.open(link)
    await browser.wait_for_text("sign in to the dashboard")
    await browser.click('a[href="/app/signin"]')
    await browser.wait_for_text("Sign in with the link")
    await check_page(browser, "signin-link")
    await browser.click("#link-signin button[type=submit]")

    async def at_app() -> bool:
        return await browser.url() == f"{origin}/app"

    await browser.wait_until("the links page", at_app)
    assert "a one-time sign-in link" in await browser.text()

    # a link with two variants, a country rule and a device rule
    await browser.open(f"{origin}/app/links/new")
    await browser.wait_for_text("A/B variants")
    await browser.type("#url", "https://shop.example/")
    await browser.type("#code", "ab-page")
    await browser.type("#tags", "spring")
    await browser.type("#folder", "Ads/2026")
    await browser.type("#variant_url_1", "https://shop.example/a")
    await browser.type("#variant_label_1", "red")
    await browser.type("#variant_weight_1", "3")
    await browser.type("#variant_url_2", "https://shop.example/b")
    await browser.type("#geo_country_1", "DE")
    await browser.type("#geo_url_1", "https://shop.example/de")
    await browser.type("#device_ios", "https://apps.example/ios")
    await check_page(browser, "link-new-variants")
    await browser.click("form.card button[type=submit]")
    await browser.wait_for_text("Link created.")
    made = await service.get_link(OWNER, "ab-page")
    assert [(v.label, v.weight) for v in made.variants or []] == [("red", 3), (None, 1)]
    assert made.geo == {"DE": "https://shop.example/de"}
    assert made.devices == {"ios": "https://apps.example/ios"}
    assert "country: DE" in await browser.text("#routing")
    await check_page(browser, "link-variants")
    await browser.click(f'a[href="/app/links/{made.id}/edit"]')
    await browser.wait_for_text("Edit link")
    await check_page(browser, "link-edit-variants")

    # tags: rename spring to summer
    await browser.click('nav a[href="/app/tags"]')
    await browser.wait_for_text("Create a tag")
    await check_page(browser, "tags")
    tag = (await service.list_tags(OWNER)).tags[0]
    await browser.type(f"#rename-{tag.id}", "summer")
    await browser.click('button[aria-label="Rename spring"]')
    await browser.wait_for_text("Tag renamed.")
    assert (await service.get_link(OWNER, "ab-page")).tags == ["summer"]

    # folders, then a folder's analytics
    await browser.click('nav a[href="/app/folders"]')
    await browser.wait_for_text("Create a folder")
    await check_page(browser, "folders")
    await browser.click('a[aria-label="Analytics of folder Ads/2026"]')
    await browser.wait_for_text("Analytics of folder Ads/2026")
    assert await browser.count("svg.chart") == 1
    await read_out_points(browser)
    await check_page(browser, "analytics-folder")

    # a tag's analytics, with the previous period hidden and another time zone
    await browser.open(
        f"{origin}/app/analytics?tag=summer&period=30d&previous=hide&timezone=Europe/Paris"
    )
    await browser.wait_for_text("Analytics of tag summer")
    assert await browser.count("svg.chart polyline.previous") == 0
    assert "(Europe/Paris)" in await browser.text("figcaption")
    await check_page(browser, "analytics-tag")
    console = [line for line in await browser.console() if "Content Security Policy" in line]
    assert console == [], console


async def read_out_points(browser: Browser) -> None:
    """chart.js: a click (the pointer over the chart) and the End key name a point's value."""
    await browser.click("svg.chart")

    async def hovered() -> bool:
        return "clicks" in await browser.text("#chart-readout")

    await browser.wait_until("the pointer's point is read out", hovered)
    end = "\ue010"
    keys = [{"type": "keyDown", "value": end}, {"type": "keyUp", "value": end}]
    await browser.call(
        "POST", "/actions", {"actions": [{"type": "key", "id": "k", "actions": keys}]}
    )
    last = await browser.call(
        "POST",
        "/execute/sync",
        {"script": "return [...document.querySelectorAll('svg.chart circle.point title')]"
         ".pop().textContent", "args": []},
    )  # fmt: skip

    async def stepped() -> bool:
        return await browser.text("#chart-readout") == str(last)

    await browser.wait_until("End steps to the last point", stepped)


def store_of(service: ClyptService) -> Store:
    return service.store
