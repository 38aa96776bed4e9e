"""Who clicked: device type, platform, browser, OS and traffic class from the user agent, country
(and, with a MaxMind City database, city and region) from the client IP, the referrer's host and
a salted, daily-rotating visitor hash. No raw IP is ever kept.

Device type (the click's `device`, the `devices` breakdown): `mobile` (phones), `tablet` (iPads,
Android tablets, Kindles), `desktop` (Windows, macOS, Linux, ChromeOS, the BSDs on a computer),
`other` (consoles, TVs, wearables, unknown). Platform (the app-store routing keys): `ios`,
`android`, `desktop`, `other`. A `devices` routing rule may name either; the platform key wins.

Traffic class (`core.traffic` holds the patterns with their sources): `preview` (unfurlers),
`ai_agent` (assistant fetchers), `crawler` (search and AI crawlers, HTTP libraries, headless
browsers, an empty agent or one that is not a browser's), else `human`. Browser and OS are
ua-parser's family names as they are (`Mobile Safari`, `Chrome Mobile`, `Mac OS X`); None when
it knows none.

Visitor hash: keyed BLAKE2b of (client IP, user agent) under a day salt, and the day salt is
HMAC-SHA256(install secret, UTC date). The install secret is 32 random bytes kept in the
database (`Store.visitor_secret`, made on first use), so every process and machine on that
database hashes alike; replacing it only resets today's unique counts. Earlier versions kept it
in a `clypt.db.visitor-key` file beside a SQLite store; that file's secret is adopted on first
use. A copy of the database holds the secret too: treat backups as the sensitive data they are.

Heavy imports (ua-parser, iptocc, maxminddb) happen on first use, never at import.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from clypt_mcp.core import traffic

if TYPE_CHECKING:
    from ua_parser import Parser

Platform = Literal["ios", "android", "desktop", "other"]
DeviceType = Literal["desktop", "mobile", "tablet", "other"]
DEVICE_TYPES: tuple[DeviceType, ...] = ("desktop", "mobile", "tablet", "other")
Network = IPv4Network | IPv6Network
IPAddress = IPv4Address | IPv6Address

MAX_AGENT_LENGTH = 512  # longer user agents are cut before parsing (and caching)
AGENT_CACHE_SIZE = 10_000
_CACHED_HEADER_LENGTH = 1024

_DESKTOP_OS = frozenset(
    {
        "Mac OS X",
        "macOS",
        "Linux",
        "Ubuntu",
        "Debian",
        "Fedora",
        "Red Hat",
        "CentOS",
        "SUSE",
        "openSUSE",
        "Mint",
        "Linux Mint",
        "Arch Linux",
        "Gentoo",
        "Slackware",
        "Mageia",
        "Mandriva",
        "Chrome OS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)
_MOBILE_WINDOWS = ("Windows Phone", "Windows Mobile", "Windows CE", "Windows RT")
# Device-type signs that ua-parser's families do not give directly.
_OTHER_DEVICE = re.compile(
    r"SmartTV|SMART-TV|Smart TV|\bTV\b|GoogleTV|Android TV|AFT[A-Z]|BRAVIA|Web0S|webOS.TV|"
    r"Tizen.+TV|HbbTV|CrKey|Roku|AppleTV|tvOS|PlayStation|Xbox|Nintendo|Watch|Wear OS|"
    r"watchOS|Oculus|Quest",
    re.IGNORECASE,
)
_TABLET = re.compile(
    r"iPad|Tablet|Kindle|Silk/|\bKF[A-Z]{2,4}\b|PlayBook|Nexus (7|9|10)\b|SM-[TXP]\d|"
    r"Lenovo TB|MediaPad|MatePad",
    re.IGNORECASE,
)
_MOBILE = re.compile(
    r"iPhone|iPod|Mobile|Windows Phone|BlackBerry|BB10|KaiOS|Opera Mini|IEMobile|Symbian",
    re.IGNORECASE,
)
# A browser's agent names a product and version and, in parentheses, its platform.
_BROWSER_SHAPE = re.compile(r"^\S+/\S+.*\(.+\)")


def _compile(entries: tuple[tuple[str, str, str], ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{pattern})" for _, pattern, _ in entries), re.IGNORECASE)


_PREVIEW = _compile(traffic.PREVIEW)
_AI_AGENT = _compile(traffic.AI_AGENT)
_CRAWLER = _compile(traffic.CRAWLER)


def classify(user_agent: str) -> traffic.TrafficClass:
    """The traffic class a user agent alone tells: preview, ai_agent, crawler or human."""
    if not user_agent.strip():
        return "crawler"
    if _PREVIEW.search(user_agent):
        return "preview"
    if _AI_AGENT.search(user_agent):
        return "ai_agent"
    if _CRAWLER.search(user_agent) or not _BROWSER_SHAPE.search(user_agent):
        return "crawler"
    return "human"


@dataclass(frozen=True, slots=True)
class Agent:
    """What a user-agent string says about the visitor's software and device."""

    device: DeviceType
    platform: Platform
    browser: str | None
    os: str | None
    traffic: traffic.TrafficClass

    @property
    def bot(self) -> bool:
        """Not a person: a visit that is never counted as a click."""
        return self.traffic not in traffic.CLICK_CLASSES


@dataclass(frozen=True, slots=True)
class Visitor:
    """One visit as the redirect rules and the click record see it (no raw IP kept)."""

    agent: Agent
    country: str | None
    referrer: str | None
    visitor_hash: str | None
    city: str | None = None


# --- user agents --------------------------------------------------------------------------

_parser_lock = threading.Lock()
_parser: Parser | None = None


def _ua_parser() -> Parser:
    """ua-parser's parser: browser and OS on the native (Rust) resolver when present, device
    on the pure-Python one; built once, lazily.

    The Rust extractor of the 633 device patterns holds about 15 MiB of compiled regexes (of
    25 MiB for all three), the same patterns in Python's `re` about 0.4 MiB; a device lookup
    there costs about 0.3 ms, paid once per distinct agent (`parse_agent` caches the result).
    Same patterns, same order, same answers: only the engine differs (issue #20: memory).
    """
    global _parser
    with _parser_lock:
        if _parser is None:
            from ua_parser import BasicResolver, Domain, Parser, PartialResult, load_lazy_builtins

            agents, systems, devices = load_lazy_builtins()
            try:
                from ua_parser.regex import Resolver as NativeResolver
            except ImportError:  # ua-parser-rs missing: all three in Python
                fast: Callable[[str, Domain], PartialResult] = BasicResolver((agents, systems, []))
            else:
                fast = NativeResolver((agents, systems, []))
            small = BasicResolver(([], [], devices))

            def resolve(user_agent: str, domains: Domain, /) -> PartialResult:
                found = fast(user_agent, domains & (Domain.USER_AGENT | Domain.OS))
                device = (
                    small(user_agent, Domain.DEVICE).device if Domain.DEVICE in domains else None
                )
                return PartialResult(
                    domains=domains,
                    string=user_agent,
                    user_agent=found.user_agent,
                    os=found.os,
                    device=device,
                )

            # No resolver cache here: `parse_agent` caches the finished Agent instead.
            _parser = Parser(resolve)
        return _parser


def warm_up() -> None:
    """Build the user-agent parser now (about half a second) instead of on the first click."""
    parse_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36")


@functools.lru_cache(maxsize=AGENT_CACHE_SIZE)
def _parse_cached(user_agent: str) -> Agent:
    result = _ua_parser().parse(user_agent)
    browser = result.user_agent.family if result.user_agent else None
    os_family = result.os.family if result.os else None
    device_family = result.device.family if result.device else None
    kind = classify(user_agent)
    if kind == "human" and device_family == "Spider":
        kind = "crawler"
    platform = _platform(os_family, device_family)
    return Agent(
        device=_device_type(user_agent, platform, device_family),
        platform=platform,
        browser=browser,
        os=os_family,
        traffic=kind,
    )


def parse_agent(user_agent: str | None) -> Agent:
    """Device type, platform, browser family, OS family and traffic class of a user-agent
    string (cached)."""
    text = (user_agent or "").strip()[:MAX_AGENT_LENGTH]
    if not text:
        return Agent(device="other", platform="other", browser=None, os=None, traffic="crawler")
    return _parse_cached(text)


def _device_type(user_agent: str, platform: Platform, device_family: str | None) -> DeviceType:
    if _OTHER_DEVICE.search(user_agent):
        return "other"
    if device_family == "iPad" or _TABLET.search(user_agent):
        return "tablet"
    if platform == "android":  # Android phones say `Mobile`; tablets do not
        return "mobile" if "Mobile" in user_agent else "tablet"
    if platform == "ios" or _MOBILE.search(user_agent):
        return "mobile"
    if platform == "desktop":
        return "desktop"
    return "other"


def platform_of_device(old: str | None) -> str:
    """The device type an old click's platform (`ios`, `android`, `desktop`, `other`) maps to
    when its user agent is gone: phones are the common case on iOS and Android."""
    return {"ios": "mobile", "android": "mobile", "desktop": "desktop"}.get(old or "", "other")


def _platform(os_family: str | None, device_family: str | None) -> Platform:
    if os_family in ("iOS", "iPadOS") or device_family in ("iPhone", "iPad", "iPod"):
        return "ios"
    if os_family in ("Android", "Fire OS"):
        return "android"
    if os_family is None:
        return "other"
    if os_family.startswith("Windows") and not os_family.startswith(_MOBILE_WINDOWS):
        return "desktop"
    if os_family in _DESKTOP_OS and device_family in (None, "Other", "Mac"):
        return "desktop"
    return "other"


# --- client IP, referrer ------------------------------------------------------------------


def client_ip(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> IPAddress | None:
    """The visitor's address: the socket peer, or, when the peer is a trusted proxy, the
    right-most `X-Forwarded-For` entry that is not itself a trusted proxy.

    `forwarded_for` holds the raw header values (several headers read as one list). An entry
    that is not an IP address ends the walk: the client is then unknown (None).
    """
    address = _parse_ip(peer)
    if address is None or not forwarded_for or not _trusted(address, trusted):
        return address
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None or not _trusted(address, trusted):
            return address
    return address  # every hop was a trusted proxy: the left-most one is the best we know


def _trusted(address: IPAddress, trusted: Sequence[Network]) -> bool:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in trusted)


def _parse_ip(text: str | None) -> IPAddress | None:
    if not text:
        return None
    return _parse_ip_cached(text.strip())


@functools.lru_cache(maxsize=8192)
def _parse_ip_cached(text: str) -> IPAddress | None:
    """`ipaddress` takes ~5 µs a parse; visitors come back, so remember the answers."""
    if text.startswith("["):  # "[2001:db8::1]:443"
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # "203.0.113.7:51234"
        text = text.partition(":")[0]
    try:
        return ip_address(text.partition("%")[0])
    except ValueError:
        return None


INVALID_HOST = "invalid"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def referrer_host(referrer: str | None) -> str | None:
    """The host of a `Referer` header, lower-cased, without port or path, in ASCII (IDNA);
    `invalid` when it is not a host name or an IP address; None when absent. Visitors choose
    this text: it is checked so that nothing but a host name ever reaches analytics."""
    if not referrer:
        return None
    if len(referrer) > 4096:
        return INVALID_HOST
    return _referrer_host_cached(referrer)


@functools.lru_cache(maxsize=4096)
def _referrer_host_cached(referrer: str) -> str | None:
    try:
        host = urlsplit(referrer.strip()).hostname
    except ValueError:
        return INVALID_HOST
    if not host:
        return INVALID_HOST
    return valid_host(host)


def valid_host(host: str) -> str:
    """`host` as a lower-case ASCII host name (IDNA) or IP address, else `invalid`."""
    host = host.strip().rstrip(".").lower()
    try:
        return str(ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return INVALID_HOST
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        return INVALID_HOST
    return host


# --- country ------------------------------------------------------------------------------


class GeoIPError(Exception):
    """`CLYPT_GEOIP_DB` names a file that cannot be read as a MaxMind database."""


class CountryLookup:
    """ISO country (and, with a MaxMind City database, the city) of an IP: a MaxMind `.mmdb`
    when one is configured, else the offline table shipped with `iptocc` (countries only).
    Private, loopback and unknown addresses have no country (None)."""

    def __init__(self, geoip_db: Path | None = None) -> None:
        self.geoip_db = geoip_db
        self._lookup: Callable[[str], tuple[str | None, str | None]] | None = None
        self._cached = functools.lru_cache(maxsize=8192)(self._place)

    def open(self) -> None:
        """Load the table now (both are lazy otherwise).

        Raises:
            GeoIPError: the MaxMind file is missing or unreadable.
        """
        if self._lookup is None:
            self._lookup = self._mmdb() if self.geoip_db else self._iptocc()

    def country(self, address: IPAddress | None) -> str | None:
        """Two upper-case letters, or None (answers are cached per address)."""
        return self._cached(address)[0]

    def place(self, address: IPAddress | None) -> tuple[str | None, str | None]:
        """`(country, "City, Region, CC")`; the city is None without a City database."""
        return self._cached(address)

    def _place(self, address: IPAddress | None) -> tuple[str | None, str | None]:
        if address is None or not address.is_global:
            return None, None
        if self._lookup is None:
            self.open()
        assert self._lookup is not None
        code, city = self._lookup(str(address))
        return (code.upper() if code and len(code) == 2 else None), city

    @staticmethod
    def _iptocc() -> Callable[[str], tuple[str | None, str | None]]:
        import iptocc

        def lookup(ip: str) -> tuple[str | None, str | None]:
            return iptocc.country_code(ip), None

        return lookup

    def _mmdb(self) -> Callable[[str], tuple[str | None, str | None]]:
        import maxminddb

        try:
            reader = maxminddb.open_database(str(self.geoip_db))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise GeoIPError(
                f"CLYPT_GEOIP_DB: cannot read '{self.geoip_db}' as a MaxMind .mmdb file ({exc})"
            ) from None

        def lookup(ip: str) -> tuple[str | None, str | None]:
            try:
                record = reader.get(ip)
            except (ValueError, maxminddb.InvalidDatabaseError):
                return None, None
            country = _mmdb_country(record)
            return country, _mmdb_city(record, country)

        return lookup


@functools.lru_cache(maxsize=4)
def geoip_has_cities(geoip_db: Path | None) -> bool:
    """Whether `CLYPT_GEOIP_DB` names a database with cities (its metadata says City)."""
    if geoip_db is None:
        return False
    import maxminddb

    try:
        with maxminddb.open_database(str(geoip_db)) as reader:
            return "city" in str(reader.metadata().database_type).lower()
    except (OSError, ValueError, maxminddb.InvalidDatabaseError):
        return False


def _mmdb_country(record: Any) -> str | None:
    """`country.iso_code` (GeoIP2/GeoLite2 Country and City), else `registered_country`."""
    if not isinstance(record, dict):
        return None
    for key in ("country", "registered_country"):
        part = record.get(key)
        if isinstance(part, dict) and isinstance(part.get("iso_code"), str):
            return str(part["iso_code"])
    return None


def _english(part: Any) -> str | None:
    names = part.get("names") if isinstance(part, dict) else None
    name = names.get("en") if isinstance(names, dict) else None
    if not isinstance(name, str):
        return None
    name = "".join(ch for ch in name if ch.isprintable())[:80].strip()
    return name or None


def _mmdb_city(record: Any, country: str | None) -> str | None:
    """ "City, Region, CC" from a GeoIP2/GeoLite2 City record (English names), else None."""
    if not isinstance(record, dict) or (city := _english(record.get("city"))) is None:
        return None
    subdivisions = record.get("subdivisions")
    region = _english(subdivisions[0]) if isinstance(subdivisions, list) and subdivisions else None
    return ", ".join(p for p in (city, region, country) if p)


# --- visitor hash -------------------------------------------------------------------------


class VisitorHasher:
    """Keyed BLAKE2b(ip, user agent) under a day salt, where the day salt is
    HMAC-SHA256(secret, UTC date): the same visitor hashes alike within a UTC day, and hashes
    of two days cannot be linked, nor turned back into an address."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._day: date | None = None
        self._keyed: Any = None  # hashlib's BLAKE2b object, keyed with today's salt

    def salt(self, day: date) -> bytes:
        return hmac.new(self._secret, day.isoformat().encode(), hashlib.sha256).digest()

    def hash(self, address: IPAddress | None, user_agent: str | None, day: date) -> str:
        """32 hex characters."""
        if day != self._day:
            self._keyed = hashlib.blake2b(key=self.salt(day), digest_size=16)
            self._day = day
        digest = self._keyed.copy()  # keying costs more than hashing: key once a day
        digest.update(address.packed if address is not None else b"")
        digest.update(b"\n")
        digest.update((user_agent or "")[:MAX_AGENT_LENGTH].encode("utf-8", "replace"))
        return str(digest.hexdigest())


# --- everything together ------------------------------------------------------------------


class VisitorInspector:
    """Turns what a request carries into a `Visitor`, with the install's settings.

    The same visitor comes back (keep-alive, several links, reloads), so whole answers are
    cached: a repeat costs one dictionary lookup instead of six parses and a hash.
    """

    def __init__(
        self,
        trusted_proxies: Sequence[Network],
        countries: CountryLookup,
        hasher: VisitorHasher,
        cache_size: int = 8192,
    ) -> None:
        self.trusted_proxies = tuple(trusted_proxies)
        self.countries = countries
        self.hasher = hasher
        self._cached = functools.lru_cache(maxsize=cache_size)(self._inspect)

    def inspect(
        self,
        *,
        peer: str | None,
        forwarded_for: Sequence[str],
        user_agent: str | None,
        referrer: str | None,
        day: date,
    ) -> Visitor:
        chain = tuple(forwarded_for)
        if (
            len(user_agent or "") > MAX_AGENT_LENGTH
            or len(referrer or "") > _CACHED_HEADER_LENGTH
            or sum(map(len, chain)) > _CACHED_HEADER_LENGTH
        ):  # outsized headers are answered, not remembered: the cache stays small
            return self._inspect(peer, chain, user_agent, referrer, day)
        return self._cached(peer, chain, user_agent, referrer, day)

    def _inspect(
        self,
        peer: str | None,
        forwarded_for: tuple[str, ...],
        user_agent: str | None,
        referrer: str | None,
        day: date,
    ) -> Visitor:
        address = client_ip(peer, forwarded_for, self.trusted_proxies)
        country, city = self.countries.place(address)
        return Visitor(
            agent=parse_agent(user_agent),
            country=country,
            referrer=referrer_host(referrer),
            visitor_hash=self.hasher.hash(address, user_agent, day),
            city=city,
        )
