"""Visitor parsing: user agents, client IP behind proxies, country, referrer, visitor hash."""

from __future__ import annotations

import time
from datetime import date
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet  # type: ignore[import-untyped]

from clypt_mcp.core.visitors import (
    CountryLookup,
    GeoIPError,
    VisitorHasher,
    client_ip,
    parse_agent,
    referrer_host,
)

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
WINDOWS_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
TRUSTED = [ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32"), ip_network("fd00::/8")]


@pytest.mark.parametrize(
    ("user_agent", "device", "browser", "os", "bot"),
    [
        (IPHONE, "mobile/ios", "Mobile Safari", "iOS", False),
        (PIXEL, "mobile/android", "Chrome Mobile", "Android", False),
        (WINDOWS_FIREFOX, "desktop/desktop", "Firefox", "Windows", False),
        (MAC_SAFARI, "desktop/desktop", "Safari", "Mac OS X", False),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "desktop/desktop",
            "Chrome",
            "Chrome OS",
            False,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
            "tablet/ios",
            "Chrome Mobile iOS",
            "iOS",
            False,
        ),
        (
            "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) "
            "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0 Mobile Safari/537.36 Edge/15.1",
            "mobile/other",
            "Edge Mobile",
            "Windows Phone",
            False,
        ),
        (GOOGLEBOT, "other/other", "Googlebot", None, True),
        (
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "other/other",
            "FacebookBot",
            None,
            True,
        ),
        ("curl/8.5.0", "other/other", "curl", None, True),
        ("python-httpx/0.27.0", "other/other", None, None, True),
        ("", "other/other", None, None, True),
    ],
)
def test_user_agents_give_device_browser_os_and_bot_flag(
    user_agent: str, device: str, browser: str | None, os: str | None, bot: bool
) -> None:
    """`device` is "device type/platform"."""
    agent = parse_agent(user_agent)
    got = (f"{agent.device}/{agent.platform}", agent.browser, agent.os, agent.bot)
    assert got == (device, browser, os, bot)


def test_missing_or_absurd_user_agents_never_raise() -> None:
    assert parse_agent(None).bot
    assert parse_agent("x" * 100_000).device == "other"
    assert parse_agent("\x00\xff\u202e").device == "other"


def test_a_parsed_user_agent_is_served_from_the_cache_in_microseconds() -> None:
    parse_agent(PIXEL)
    start = time.perf_counter()
    for _ in range(10_000):
        parse_agent(PIXEL)
    per_call = (time.perf_counter() - start) / 10_000
    assert per_call < 20e-6  # a miss costs ~100 µs; a hit is a dict lookup


def test_the_socket_peer_is_the_client_when_it_is_not_a_trusted_proxy() -> None:
    assert client_ip("203.0.113.9", ["8.8.8.8"], TRUSTED) == ip_address("203.0.113.9")
    assert client_ip("203.0.113.9", [], ()) == ip_address("203.0.113.9")


def test_forwarded_for_is_walked_right_to_left_past_trusted_proxies() -> None:
    chain = ["1.1.1.1, 8.8.8.8, 10.0.0.7"]  # spoofed, client, inner proxy
    assert client_ip("10.0.0.1", chain, TRUSTED) == ip_address("8.8.8.8")
    assert client_ip("10.0.0.1", ["8.8.8.8", "10.0.0.9"], TRUSTED) == ip_address("8.8.8.8")
    assert client_ip("10.0.0.1", ["10.0.0.2, 10.0.0.3"], TRUSTED) == ip_address("10.0.0.2")
    assert client_ip("10.0.0.1", ["[2001:db8::1]:443"], TRUSTED) == ip_address("2001:db8::1")
    assert client_ip("10.0.0.1", ["81.2.69.160:51234"], TRUSTED) == ip_address("81.2.69.160")
    assert client_ip("::ffff:10.0.0.1", ["8.8.8.8"], TRUSTED) == ip_address("8.8.8.8")


def test_a_garbled_forwarded_for_means_an_unknown_client() -> None:
    assert client_ip("10.0.0.1", ["8.8.8.8, not-an-ip"], TRUSTED) is None
    assert client_ip(None, ["8.8.8.8"], TRUSTED) is None
    assert client_ip("not-an-ip", [], TRUSTED) is None


def test_country_comes_from_the_built_in_table() -> None:
    countries = CountryLookup()
    assert countries.country(ip_address("8.8.8.8")) == "US"
    assert countries.country(ip_address("81.2.69.160")) == "GB"
    assert countries.country(ip_address("2001:4860:4860::8888")) == "US"
    assert countries.country(ip_address("127.0.0.1")) is None
    assert countries.country(ip_address("10.1.2.3")) is None
    assert countries.country(None) is None


def test_country_comes_from_a_maxmind_file_when_one_is_configured(tmp_path: Path) -> None:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country")
    writer.insert_network(IPSet(["81.2.69.0/24"]), {"country": {"iso_code": "FR"}})
    writer.insert_network(IPSet(["8.8.8.0/24"]), {"registered_country": {"iso_code": "CA"}})
    path = tmp_path / "country.mmdb"
    writer.to_db_file(str(path))
    countries = CountryLookup(path)
    assert countries.country(ip_address("81.2.69.160")) == "FR"  # the built-in table says GB
    assert countries.country(ip_address("8.8.8.8")) == "CA"
    assert countries.country(ip_address("1.1.1.1")) is None


@pytest.mark.parametrize("content", [None, b"not a maxmind database"])
def test_an_unreadable_maxmind_file_is_one_clear_error(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "geo.mmdb"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(GeoIPError, match=r"^CLYPT_GEOIP_DB: cannot read"):
        CountryLookup(path).open()


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("https://News.Example.com:8443/item?id=1#top", "news.example.com"),
        ("http://xn--bcher-kva.de/", "xn--bcher-kva.de"),
        ("android-app://com.slack/", "com.slack"),
        ("", None),
        (None, None),
        ("not a url", "invalid"),
        ("http://[::1", "invalid"),
    ],
)
def test_only_the_referrer_host_is_kept(header: str | None, host: str | None) -> None:
    assert referrer_host(header) == host


def test_the_visitor_hash_is_stable_within_a_day_and_unlinkable_across_days() -> None:
    hasher = VisitorHasher(b"s" * 32)
    ip = ip_address("81.2.69.160")
    day = date(2026, 3, 10)
    first = hasher.hash(ip, IPHONE, day)
    assert first == hasher.hash(ip, IPHONE, day)
    assert len(first) == 32 and "81.2.69.160" not in first
    assert first != hasher.hash(ip, PIXEL, day)
    assert first != hasher.hash(ip_address("8.8.8.8"), IPHONE, day)
    assert first != hasher.hash(ip, IPHONE, date(2026, 3, 11))
    assert first != VisitorHasher(b"t" * 32).hash(ip, IPHONE, day)


# Browsers, phones, tablets, TVs, consoles, readers, bots and oddities: the mixed resolver
# (browser and OS in Rust, device in Python) must answer as ua-parser's own resolver does.
MIXED_AGENTS = (
    IPHONE,
    PIXEL,
    WINDOWS_FIREFOX,
    MAC_SAFARI,
    GOOGLEBOT,
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; SM-G991B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
    "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
    "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (X11; U; Linux armv7l like Android; en-us) AppleWebKit/531.2+ (KHTML, like "
    "Gecko) Version/5.0 Safari/531.2+ Kindle/3.0+",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) "
    "Presto/2.5.25 Version/10.54",
    "Mozilla/5.0 (Mobile; rv:48.0; Nokia 8110 4G) Gecko/48.0 Firefox/48.0 KAIOS/2.5",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.2; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (X11; FreeBSD amd64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebkit/534.30 "
    "(KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
    "Dalvik/2.1.0 (Linux; U; Android 11; M2101K6G Build/RKQ1.200826.002)",
    "not a browser at all",
)


def test_the_mixed_resolver_answers_as_ua_parser_does() -> None:
    from ua_parser import BestAvailableResolver, Parser, load_lazy_builtins

    from clypt_mcp.core.visitors import _ua_parser

    reference = Parser(BestAvailableResolver(load_lazy_builtins()))
    ours = _ua_parser()
    devices = set()
    for agent in MIXED_AGENTS:
        want, got = reference.parse(agent), ours.parse(agent)
        assert (got.user_agent, got.os, got.device) == (want.user_agent, want.os, want.device), (
            agent
        )
        devices.add(got.device.family if got.device else None)
    assert {"iPhone", "iPad", "Spider", "Mac"} <= devices  # the families Clypt reads
