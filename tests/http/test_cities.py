"""Cities: with a MaxMind City database, clicks keep "City, Region, CC" and analytics has a
`cities` breakdown; with a Country database (or none) `cities` is empty and says why."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

import anyio
import httpx2
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet  # type: ignore[import-untyped]

from clypt_mcp.config import Settings
from clypt_mcp.core.analytics import NO_CITIES
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.core.visitors import CountryLookup
from clypt_mcp.http.app import create_app
from clypt_mcp.models import Analytics, AnalyticsQuery, LinkCreate, Principal
from clypt_mcp.store.sqlite import SqliteStore
from tests import agents
from tests.conftest import BASE_URL, FakeClock

pytestmark = pytest.mark.anyio
OWNER = Principal(workspace_id="default")


def _mmdb(path: Path, kind: str) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=kind)
    paris = {
        "country": {"iso_code": "FR"},
        "city": {"names": {"en": "Paris"}},
        "subdivisions": [{"names": {"en": "Île-de-France"}}],
    }
    berlin = {"country": {"iso_code": "DE"}, "city": {"names": {"en": "Berlin"}}}
    if "City" not in kind:
        paris, berlin = {"country": {"iso_code": "FR"}}, {"country": {"iso_code": "DE"}}
    writer.insert_network(IPSet(["81.2.69.0/24"]), paris)
    writer.insert_network(IPSet(["5.9.0.0/16"]), berlin)
    writer.to_db_file(str(path))
    return path


def test_a_city_database_gives_city_region_and_country(tmp_path: Path) -> None:
    places = CountryLookup(_mmdb(tmp_path / "city.mmdb", "GeoLite2-City"))
    assert places.place(ip_address("81.2.69.160")) == ("FR", "Paris, Île-de-France, FR")
    assert places.place(ip_address("5.9.0.1")) == ("DE", "Berlin, DE")
    assert places.place(ip_address("127.0.0.1")) == (None, None)


async def _report(tmp_path: Path, geoip: Path | None) -> Analytics:
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    clock = FakeClock()
    service = ClyptService(store, base_url=BASE_URL, clock=clock, geoip_db=geoip)
    settings = Settings(base_url=BASE_URL, trusted_proxies="127.0.0.1/32", geoip_db=geoip)
    recorder = ClickRecorder(store, interval=0.01)
    app = create_app(service, settings, recorder, with_mcp=False, store=service.store)
    try:
        link = await service.create_link(OWNER, LinkCreate(url="https://example.com/"))
        transport = httpx2.ASGITransport(app=app)
        async with (
            anyio.create_task_group() as tg,
            httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as http,
        ):
            tg.start_soon(recorder.run)
            for ip in ("81.2.69.160", "81.2.69.161", "5.9.0.1", "8.8.8.8"):
                headers = {"user-agent": agents.DESKTOP_CHROME, "x-forwarded-for": ip}
                assert (await http.get(f"/{link.code}", headers=headers)).status_code == 302
            recorder.close()
        clock.advance(minutes=15)
        return await service.get_analytics(OWNER, AnalyticsQuery(link=link.code))
    finally:
        await store.close()


async def test_cities_breakdown_with_a_city_database(tmp_path: Path) -> None:
    report = await _report(tmp_path, _mmdb(tmp_path / "city.mmdb", "GeoLite2-City"))
    assert {c.key: c.clicks for c in report.cities} == {
        "Paris, Île-de-France, FR": 2,
        "Berlin, DE": 1,
        "unknown": 1,
    }
    assert report.cities_note is None


@pytest.mark.parametrize("kind", ["GeoLite2-Country", None])
async def test_no_cities_without_a_city_database_and_the_reason_given(
    tmp_path: Path, kind: str | None
) -> None:
    geoip = _mmdb(tmp_path / "country.mmdb", kind) if kind else None
    report = await _report(tmp_path, geoip)
    assert report.cities == []
    assert report.cities_note == NO_CITIES
