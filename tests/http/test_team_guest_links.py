"""Guest links (#14 item 6): off by default (404); on, POST /api/v1/guest-links without a key
makes a link with a generated code, no options, `expiresAt` 7 days on and a note that it is
temporary; each client address may make 10 an hour (the 11th: 429 with Retry-After), and a
total cap holds; past 7 days the housekeeping deletes them for good (a clock the test
controls). SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import httpx2
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.housekeeping import Housekeeping
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.http.redirect import LINK_TTL
from clypt_mcp.models import LinkQuery, Principal
from clypt_mcp.store.base import Store
from tests import agents
from tests.conftest import BASE_URL, FakeClock

pytestmark = pytest.mark.anyio
GUESTS = Principal(workspace_id="guests")


class Site:
    def __init__(self, store: Store, **settings: Any) -> None:
        self.clock = FakeClock()
        self.service = ClyptService(store, base_url=BASE_URL, clock=self.clock)
        config = Settings(base_url=BASE_URL, trusted_proxies="127.0.0.1/32", **settings)
        app = create_app(self.service, config, ClickRecorder(store), store=store, with_mcp=False)
        self.http = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://clypt.test"
        )

    async def make(self, url: str = "https://example.com/page", ip: str = "198.51.100.1",
                   **extra: Any) -> httpx2.Response:  # fmt: skip
        return await self.http.post(
            "/api/v1/guest-links", json={"url": url, **extra}, headers={"x-forwarded-for": ip}
        )


@pytest.fixture
async def site(store: Store) -> AsyncIterator[Site]:
    made = Site(store, guest_links=True)
    async with made.http:
        yield made


async def test_off_by_default_the_path_is_a_404(store: Store) -> None:
    off = Site(store)
    async with off.http:
        r = await off.make()
        assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert (await off.service.list_links(GUESTS, LinkQuery())).total == 0


async def test_a_guest_link_without_a_key_redirects_and_says_it_is_temporary(site: Site) -> None:
    r = await site.make("https://example.com/page?x=1")
    assert r.status_code == 201, r.text
    body = r.json()
    assert len(body["code"]) == 7 and body["shortUrl"] == f"{BASE_URL}/{body['code']}"
    assert body["url"] == "https://example.com/page?x=1"
    assert "temporary" in body["note"] and "7 days" in body["note"]
    expires = body["expiresAt"]
    assert expires.startswith((site.clock() + timedelta(days=7)).date().isoformat())
    visit = await site.http.get(f"/{body['code']}", headers={"user-agent": agents.DESKTOP_CHROME})
    assert visit.status_code == 302 and visit.headers["location"] == "https://example.com/page?x=1"


async def test_no_options_and_bad_urls_are_refused_and_change_nothing(site: Site) -> None:
    r = await site.make(code="mine")
    assert r.status_code == 400 and "code" in r.json()["error"]
    r = await site.make("javascript:alert(1)")
    assert r.status_code == 422 and "url" in r.json()["error"]
    assert (await site.service.list_links(GUESTS, LinkQuery())).total == 0


async def test_the_eleventh_from_one_address_in_an_hour_gets_429_with_retry_after(
    site: Site,
) -> None:
    for i in range(10):
        assert (await site.make(f"https://example.com/{i}", ip="203.0.113.5")).status_code == 201
    eleventh = await site.make("https://example.com/11", ip="203.0.113.5")
    assert eleventh.status_code == 429 and eleventh.json()["code"] == "rate_limited"
    assert 1 <= int(eleventh.headers["retry-after"]) <= 3600
    assert (await site.make("https://example.com/x", ip="203.0.113.6")).status_code == 201
    site.clock.advance(hours=1)
    assert (await site.make("https://example.com/y", ip="203.0.113.5")).status_code == 201


async def test_the_total_cap_answers_429(store: Store) -> None:
    capped = Site(store, guest_links=True, guest_links_max=3)
    async with capped.http:
        for i in range(3):
            assert (await capped.make(ip=f"192.0.2.{i + 1}")).status_code == 201
        r = await capped.make(ip="192.0.2.99")
        assert r.status_code == 429 and "Retry-After" in r.headers


async def test_housekeeping_deletes_guest_links_for_good_after_seven_days(
    site: Site, store: Store
) -> None:
    code = (await site.make()).json()["code"]
    sweep = Housekeeping(store, clock=site.clock)
    site.clock.advance(days=6, hours=23)
    assert (await sweep.sweep())["guest links"] == 0
    assert (await site.http.get(f"/{code}")).status_code == 302
    site.clock.advance(hours=2)
    assert (await site.http.get(f"/{code}")).status_code == 410  # expired, not yet swept
    assert (await sweep.sweep())["guest links"] == 1
    await anyio.sleep(LINK_TTL + 0.1)  # a serving process looks the code up again by then
    assert (await site.http.get(f"/{code}")).status_code == 404
    everything = await site.service.list_links(GUESTS, LinkQuery(status="all"))
    assert everything.total == 0
