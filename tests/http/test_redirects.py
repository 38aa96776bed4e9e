"""GET|HEAD|POST /{code} through the whole app: redirects, rules, pages, passwords, clicks."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx2
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.models import AnalyticsQuery, Link, LinkCreate, LinkUpdate, Principal
from clypt_mcp.store.sqlite import SqliteStore
from tests.conftest import BASE_URL, FakeClock

pytestmark = pytest.mark.anyio

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
IP_GB, IP_US, IP_DE = "81.2.69.160", "8.8.8.8", "5.9.0.1"
OWNER = Principal(workspace_id="default")


@dataclass
class Harness:
    """The app in process; ASGITransport's peer is 127.0.0.1, a trusted proxy here."""

    http: httpx2.AsyncClient
    service: ClyptService
    clock: FakeClock
    recorder: ClickRecorder
    done: anyio.Event

    async def link(self, url: str = "https://example.com/", **fields: Any) -> Link:
        return await self.service.create_link(OWNER, LinkCreate(url=url, **fields))

    async def visit(
        self,
        code: str,
        ua: str = DESKTOP,
        ip: str | None = None,
        referer: str | None = None,
        method: str = "GET",
    ) -> httpx2.Response:
        headers = {"user-agent": ua}
        if ip:
            headers["x-forwarded-for"] = ip
        if referer:
            headers["referer"] = referer
        return await self.http.request(method, f"/{code}", headers=headers)

    async def post(self, code: str, form: dict[str, str], ip: str = IP_GB) -> httpx2.Response:
        """Post `form` as a browser would: with the CSRF token of the form it was shown."""
        headers = {"user-agent": DESKTOP, "x-forwarded-for": ip}
        page = await self.http.get(f"/{code}", headers=headers)
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        token = {"csrf": found.group(1)} if found else {}
        return await self.http.post(f"/{code}", data={**token, **form}, headers=headers)

    async def flush(self) -> None:
        """Stop taking clicks and wait until every queued one is in the store."""
        self.recorder.close()
        with anyio.fail_after(5):
            await self.done.wait()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    clock = FakeClock()
    service = ClyptService(store, base_url=BASE_URL, clock=clock)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'clypt.db'}",
        base_url=BASE_URL,
        trusted_proxies="127.0.0.1/32",
    )
    recorder = ClickRecorder(store, interval=0.01)
    app = create_app(
        service, settings, recorder, with_mcp=False, store=service.store, clock=service.clock
    )
    done = anyio.Event()

    async def record() -> None:
        await recorder.run()
        done.set()

    try:
        async with (
            anyio.create_task_group() as tg,
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE_URL) as http,
        ):
            tg.start_soon(record)
            yield Harness(http, service, clock, recorder, done)
            recorder.close()
    finally:
        await store.close()


def query(response: httpx2.Response) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(response.headers["location"]).query, keep_blank_values=True))


# --- redirects ----------------------------------------------------------------------------


async def test_a_link_redirects_with_302_and_no_caching(harness: Harness) -> None:
    link = await harness.link("https://example.com/page")
    response = await harness.visit(link.code)
    assert response.status_code == 302
    assert response.headers["location"] == "https://example.com/page"
    assert response.headers["cache-control"] == "no-store"
    assert response.content == b""


async def test_head_redirects_without_recording_a_click(harness: Harness) -> None:
    link = await harness.link("https://example.com/page", max_clicks=1)
    for _ in range(3):
        response = await harness.visit(link.code, method="HEAD")
        assert response.status_code == 302
        assert response.headers["location"] == "https://example.com/page"
    assert (await harness.visit(link.code)).status_code == 302  # HEADs used none of the 1
    await harness.flush()
    assert (await harness.service.get_link(OWNER, link.code)).clicks == 1


async def test_utm_fields_are_merged_into_the_destination_query(harness: Harness) -> None:
    link = await harness.link(
        "https://shop.example/spring?ref=home&utm_source=old#top",
        utm_source="newsletter",
        utm_medium="email",
        utm_campaign="spring-26",
        utm_term="shoes",
        utm_content="hero.v2",
    )
    response = await harness.visit(link.code)
    location = response.headers["location"]
    assert location == (
        "https://shop.example/spring?ref=home&utm_source=newsletter&utm_medium=email"
        "&utm_campaign=spring-26&utm_term=shoes&utm_content=hero.v2#top"
    )
    assert location.count("utm_source") == 1


async def test_variants_split_2000_visits_by_weight(harness: Harness) -> None:
    link = await harness.link(
        "https://example.com/",
        variants=[
            {"url": "https://example.com/a", "weight": 1, "label": "a"},
            {"url": "https://example.com/b", "weight": 3, "label": "b"},
        ],
        utm_source="ab",
    )
    seen: Counter[str] = Counter()
    with anyio.fail_after(60):
        for i in range(2000):  # from 200 addresses: 10 each stays under CLYPT_CLICK_RATE
            response = await harness.visit(link.code, ip=f"198.51.100.{i % 200 + 1}")
            seen[urlsplit(response.headers["location"]).path] += 1
    assert set(seen) == {"/a", "/b"}
    # expected 500 / 1500; 5 standard deviations (sqrt(2000 * 0.25 * 0.75) ~ 19) either side
    assert abs(seen["/a"] - 500) < 97, seen
    await harness.flush()
    assert (await harness.service.get_link(OWNER, link.code)).clicks == 2000


async def test_the_variant_shown_is_recorded_with_the_click(
    harness: Harness, tmp_path: Path
) -> None:
    link = await harness.link(
        "https://example.com/",
        variants=[{"url": "https://example.com/a", "label": "only"}],
    )
    await harness.visit(link.code)
    await harness.flush()
    store = harness.service.store
    assert isinstance(store, SqliteStore)
    rows = store.conn.execute("SELECT variant FROM clicks").fetchall()
    assert [r[0] for r in rows] == ["only"]


async def test_geo_rules_route_by_country_from_a_trusted_proxy(harness: Harness) -> None:
    link = await harness.link(
        "https://example.com/world",
        geo={"GB": "https://example.co.uk/", "de": "https://example.de/"},
        devices={"ios": "https://apps.apple.com/app"},
    )
    gb = await harness.visit(link.code, ip=IP_GB)
    de = await harness.visit(link.code, ip=f"1.1.1.1, {IP_DE}")  # right-most untrusted hop
    us = await harness.visit(link.code, ip=IP_US)
    assert gb.headers["location"] == "https://example.co.uk/"
    assert de.headers["location"] == "https://example.de/"
    assert us.headers["location"] == "https://example.com/world"
    # geo beats device
    assert (await harness.visit(link.code, ua=IPHONE, ip=IP_GB)).headers["location"] == (
        "https://example.co.uk/"
    )


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    try:
        service = ClyptService(store, base_url=BASE_URL)
        link = await service.create_link(
            OWNER, LinkCreate(url="https://example.com/", geo={"GB": "https://example.co.uk/"})
        )
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'clypt.db'}")
        recorder = ClickRecorder(store)
        app = create_app(
            service, settings, recorder, with_mcp=False, store=service.store, clock=service.clock
        )
        transport = httpx2.ASGITransport(app=app)  # peer 127.0.0.1, trusted by no one here
        async with (
            anyio.create_task_group() as tg,
            httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as http,
        ):
            tg.start_soon(recorder.run)
            response = await http.get(f"/{link.code}", headers={"x-forwarded-for": IP_GB})
            recorder.close()
        assert response.headers["location"] == "https://example.com/"
    finally:
        await store.close()


async def test_device_rules_route_ios_android_and_desktop(harness: Harness) -> None:
    link = await harness.link(
        "https://example.com/other",
        devices={
            "ios": "https://apps.apple.com/app",
            "android": "https://play.google.com/app",
            "desktop": "https://example.com/desktop",
        },
        utm_source="qr",
    )
    expected = {
        IPHONE: "https://apps.apple.com/app?utm_source=qr",
        PIXEL: "https://play.google.com/app?utm_source=qr",
        DESKTOP: "https://example.com/desktop?utm_source=qr",
        "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15": (
            "https://example.com/other?utm_source=qr"
        ),
    }
    for ua, location in expected.items():
        assert (await harness.visit(link.code, ua=ua)).headers["location"] == location


async def test_idn_destinations_are_sent_as_punycode(harness: Harness) -> None:
    link = await harness.link("https://bücher.example/straße")
    response = await harness.visit(link.code)
    assert response.headers["location"] == "https://xn--bcher-kva.example/stra%C3%9Fe"


# --- 404 and 410 --------------------------------------------------------------------------


def assert_page(response: httpx2.Response, status: int, *phrases: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "location" not in response.headers
    for phrase in phrases:
        assert phrase in response.text, response.text


async def test_an_unknown_code_is_a_404_page(harness: Harness) -> None:
    response = await harness.visit("nothing-here")
    assert_page(response, 404, "Link not found", "clypt.test/nothing-here")


async def test_the_404_page_escapes_what_it_shows(harness: Harness) -> None:
    response = await harness.visit("%3Cimg%20src%3Dx%20onerror%3D%22alert(1)%22%3E")
    assert_page(response, 404, "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;")
    assert "<img" not in response.text


async def test_deeper_paths_get_the_404_page_and_a_trailing_slash_is_forgiven(
    harness: Harness,
) -> None:
    assert_page(await harness.visit("a/b/%3Cscript%3E"), 404, "a/b/&lt;script&gt;")
    link = await harness.link("https://example.com/slash")
    response = await harness.visit(f"{link.code}/")
    assert response.headers["location"] == "https://example.com/slash"


async def test_a_deleted_link_is_410(harness: Harness) -> None:
    link = await harness.link()
    await harness.service.delete_link(OWNER, link.code)
    assert_page(await harness.visit(link.code), 410, "This link was deleted")


async def test_a_disabled_link_is_410(harness: Harness) -> None:
    link = await harness.link()
    await harness.service.update_link(OWNER, link.code, LinkUpdate(disabled=True))
    assert_page(await harness.visit(link.code), 410, "This link is turned off")


async def test_a_link_that_has_not_started_is_410_with_its_start(harness: Harness) -> None:
    starts = harness.clock.now + timedelta(hours=2)
    link = await harness.link(starts_at=starts)
    assert_page(
        await harness.visit(link.code),
        410,
        "This link is not active yet",
        "on 2026-03-10 at 14:00 UTC",
    )
    harness.clock.advance(hours=2)
    assert (await harness.visit(link.code)).status_code == 302


async def test_an_expired_link_is_410(harness: Harness) -> None:
    link = await harness.link(expires_at=harness.clock.now + timedelta(minutes=5))
    assert (await harness.visit(link.code)).status_code == 302
    harness.clock.advance(minutes=5)
    assert_page(await harness.visit(link.code), 410, "This link has expired", "12:05 UTC")


async def test_a_used_up_link_is_410(harness: Harness) -> None:
    link = await harness.link(max_clicks=2)
    assert [(await harness.visit(link.code)).status_code for _ in range(2)] == [302, 302]
    assert_page(await harness.visit(link.code), 410, "reached its click limit")
    assert_page(await harness.visit(link.code), 410, "reached its click limit")


async def test_max_clicks_lets_exactly_n_of_50_concurrent_visitors_through(
    harness: Harness,
) -> None:
    link = await harness.link(max_clicks=17)
    statuses: list[int] = []

    async def visitor(n: int) -> None:
        response = await harness.visit(link.code, ip=f"81.2.69.{n}")
        statuses.append(response.status_code)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for n in range(50):
                tg.start_soon(visitor, n)
    assert Counter(statuses) == {302: 17, 410: 33}
    await harness.flush()
    assert (await harness.service.get_link(OWNER, link.code)).clicks == 17


# --- passwords ----------------------------------------------------------------------------


async def test_a_password_link_shows_a_form_and_never_the_destination(harness: Harness) -> None:
    link = await harness.link("https://secret.example/plans", password="open sesame")
    response = await harness.visit(link.code)
    assert_page(response, 200, "Password required", '<form method="post"', 'type="password"')
    assert "secret.example" not in response.text
    assert (await harness.visit(link.code, method="HEAD")).status_code == 200


async def test_the_right_password_redirects_and_counts_the_click(harness: Harness) -> None:
    link = await harness.link("https://secret.example/plans", password="open sesame")
    response = await harness.post(link.code, {"password": "open sesame"})
    assert response.status_code == 303
    assert response.headers["location"] == "https://secret.example/plans"
    await harness.flush()
    assert (await harness.service.get_link(OWNER, link.code)).clicks == 1


async def test_a_wrong_password_says_so(harness: Harness) -> None:
    link = await harness.link("https://secret.example/plans", password="open sesame")
    for i, form in enumerate(
        ({"password": "guess"}, {}, {"password": ""}, {"password": "x" * 2000})
    ):
        response = await harness.post(link.code, form, ip=f"81.2.69.{i}")
        assert_page(response, 403, "That password is not right")
    await harness.flush()
    assert (await harness.service.get_link(OWNER, link.code)).clicks == 0


async def test_wrong_passwords_are_limited_per_link_and_client(harness: Harness) -> None:
    link = await harness.link("https://secret.example/plans", password="open sesame")
    for _ in range(5):
        assert (await harness.post(link.code, {"password": "guess"})).status_code == 403
    limited = await harness.post(link.code, {"password": "open sesame"})
    assert_page(limited, 429, "Too many wrong passwords")
    assert 0 < int(limited.headers["retry-after"]) <= 61
    # another client, as told by the trusted proxy, still gets in
    other = await harness.post(link.code, {"password": "open sesame"}, ip=IP_US)
    assert other.status_code == 303


async def test_an_unavailable_password_link_says_why_before_asking(harness: Harness) -> None:
    link = await harness.link(password="open sesame", max_clicks=1)
    assert (await harness.post(link.code, {"password": "open sesame"})).status_code == 303
    assert_page(await harness.visit(link.code), 410, "click limit")
    assert_page(await harness.post(link.code, {"password": "open sesame"}), 410, "click limit")


async def test_a_garbled_form_is_refused_not_an_error(harness: Harness) -> None:
    link = await harness.link(password="open sesame")
    response = await harness.http.post(
        f"/{link.code}",
        content=b"\xff\xfe password=%%%",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_page(response, 403, "This form has expired", 'name="csrf"')


# --- clicks -------------------------------------------------------------------------------


async def test_clicks_carry_device_browser_os_country_referrer_and_bot(harness: Harness) -> None:
    link = await harness.link()
    visits = [
        (IPHONE, IP_GB, "https://news.example.org/item?id=1"),
        (IPHONE, IP_GB, "https://news.example.org/other"),
        (PIXEL, IP_US, None),
        (DESKTOP, IP_DE, "https://www.search.example/?q=x"),
        (GOOGLEBOT, IP_US, None),
    ]
    for ua, ip, referer in visits:
        assert (await harness.visit(link.code, ua=ua, ip=ip, referer=referer)).status_code == 302
    await harness.flush()
    harness.clock.advance(minutes=15)  # analytics windows end on a whole quarter-hour

    report = await harness.service.get_analytics(OWNER, AnalyticsQuery(link=link.code))

    def counts(rows: list[Any]) -> dict[str, int]:
        return {r.key: r.clicks for r in rows}

    assert report.clicks_in_period == 4  # the bot is recorded, not counted
    assert report.unique_visitors == 3  # the same iPhone from the same address twice
    assert counts(report.devices) == {"mobile": 3, "desktop": 1}
    assert counts(report.browsers) == {"Mobile Safari": 2, "Chrome Mobile": 1, "Firefox": 1}
    assert counts(report.os) == {"iOS": 2, "Android": 1, "Windows": 1}
    assert counts(report.countries) == {"GB": 2, "US": 1, "DE": 1}
    assert counts(report.referrers) == {
        "news.example.org": 2,
        "www.search.example": 1,
        "unknown": 1,
    }
    with_bots = await harness.service.get_analytics(
        OWNER, AnalyticsQuery(link=link.code, include_bots=True)
    )
    assert with_bots.clicks_in_period == 5


async def test_no_raw_ip_is_stored(harness: Harness) -> None:
    link = await harness.link()
    await harness.visit(link.code, ip=IP_GB, ua=IPHONE)
    await harness.flush()
    store = harness.service.store
    assert isinstance(store, SqliteStore)
    dump = "\n".join(store.conn.iterdump())
    assert IP_GB not in dump
    assert "81.2.69" not in dump


async def test_a_click_after_shutdown_began_still_redirects(harness: Harness) -> None:
    link = await harness.link()
    await harness.flush()
    response = await harness.visit(link.code)
    assert response.status_code == 302


@pytest.mark.parametrize("shared", [True, False])
async def test_wrong_passwords_count_across_apps_when_limits_are_shared(
    tmp_path: Path, shared: bool
) -> None:
    # two apps on one store stand for two `serve` processes on one database
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    try:
        # a stopped clock: the six tries never straddle two per-minute windows
        service = ClyptService(store, base_url=BASE_URL, clock=FakeClock())
        settings = Settings(base_url=BASE_URL, trusted_proxies="127.0.0.1/32")
        link = await service.create_link(
            OWNER, LinkCreate(url="https://e.com/", password="open sesame")
        )
        apps = [
            create_app(service, settings, ClickRecorder(store), with_mcp=False,
                       shared_limits=shared, store=service.store, clock=service.clock)
            for _ in range(2)
        ]  # fmt: skip
        statuses = []
        for i in range(6):
            transport = httpx2.ASGITransport(app=apps[i % 2])
            async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as http:
                headers = {"user-agent": DESKTOP, "x-forwarded-for": IP_GB}
                page = await http.get(f"/{link.code}", headers=headers)
                found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
                assert found is not None
                r = await http.post(
                    f"/{link.code}", data={"password": "guess", "csrf": found.group(1)},
                    headers=headers,
                )  # fmt: skip
                statuses.append(r.status_code)
        if shared:  # five wrong tries between them, then both refuse
            assert statuses == [403] * 5 + [429]
            keys = [row[0] for row in store.conn.execute("SELECT key FROM rate_limits")]
            assert keys and all(k.startswith("password:") for k in keys)
            assert not any(IP_GB in k or link.code in k for k in keys)  # hashed, no address
        else:  # each process counts its own three
            assert statuses == [403] * 6
    finally:
        await store.close()


async def test_the_redirect_shortcut_takes_only_what_starlette_would_route_to_a_code(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    try:
        service = ClyptService(store, base_url=BASE_URL)
        link = await service.create_link(OWNER, LinkCreate(url="https://e.com/x", code="mcpx"))
        app = create_app(
            service,
            Settings(base_url=BASE_URL),
            ClickRecorder(store),
            store=service.store,
            clock=service.clock,
        )
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            assert (await http.get("/healthz")).json() == {"ok": True}  # fixed routes first
            assert (await http.head("/llms.txt")).status_code == 200
            for path in (f"/{link.code}", f"/{link.code}/"):  # `mcpx` is no MCP path
                r = await http.get(path)
                assert (r.status_code, r.headers["location"]) == (302, "https://e.com/x"), path
            assert (await http.head(f"/{link.code}")).status_code == 302
            assert (await http.get("/api")).status_code == 404  # a code, not the API mount
            assert (await http.get(f"/{link.code}/deeper")).status_code == 404
            assert (await http.get("/api/v1/links")).status_code == 401  # the API, not a code
            assert (await http.get("/mcp")).status_code == 401  # MCP wants a key
    finally:
        await store.close()
