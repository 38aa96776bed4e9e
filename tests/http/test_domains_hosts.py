"""Which host a request came to, in process on both stores: X-Forwarded-Host is believed only
from CLYPT_TRUSTED_PROXIES; the TLS `ask` endpoint answers only loopback and those proxies;
before any domain is verified every host is the server's own (upgrades keep working)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.models import LinkCreate, Principal
from tests.conftest import BASE_URL

pytestmark = pytest.mark.anyio
ME = Principal(workspace_id="default")


@asynccontextmanager
async def client(
    service: ClyptService, peer: str, proxies: str = ""
) -> AsyncIterator[httpx2.AsyncClient]:
    settings = Settings(base_url=BASE_URL, trusted_proxies=proxies)
    recorder = ClickRecorder(service.store)
    app = create_app(service, settings, recorder, store=service.store, with_mcp=False)
    transport = httpx2.ASGITransport(app=app, client=(peer, 4321))
    async with (
        anyio.create_task_group() as tg,
        httpx2.AsyncClient(transport=transport, base_url="http://clypt.test") as http,
    ):
        tg.start_soon(recorder.run)
        yield http
        recorder.close()


async def test_forwarded_host_counts_only_from_a_trusted_proxy(service: ClyptService) -> None:
    await service.operator_add_domain("default", "go.example.org", verified=True)
    await service.create_link(
        ME, LinkCreate(url="https://e.com/on-domain", code="camp", domain="go.example.org")
    )
    await service.create_link(ME, LinkCreate(url="https://e.com/on-base", code="camp"))
    forwarded = {"x-forwarded-host": "go.example.org"}
    async with client(service, "10.0.0.7", proxies="10.0.0.0/8") as http:
        r = await http.get("/camp", headers=forwarded)
        assert (r.status_code, r.headers["location"]) == (302, "https://e.com/on-domain")
        r = await http.get("/camp")  # no forwarded host: Host, the server's own
        assert r.headers["location"] == "https://e.com/on-base"
    async with client(service, "192.0.2.9", proxies="10.0.0.0/8") as http:
        r = await http.get("/camp", headers=forwarded)  # not a proxy: its header is ignored
        assert (r.status_code, r.headers["location"]) == (302, "https://e.com/on-base")
        r = await http.get("/camp", headers={"host": "go.example.org:8443"})  # any port
        assert r.headers["location"] == "https://e.com/on-domain"
        r = await http.get("/camp", headers={"host": "elsewhere.example"})
        assert r.status_code == 404 and "camp" not in r.text
        r = await http.get("/nope", headers={"host": "go.example.org"})  # its own 404 page
        assert r.status_code == 404 and "go.example.org/nope" in r.text


async def test_the_ask_endpoint_answers_loopback_and_trusted_proxies_only(
    service: ClyptService,
) -> None:
    await service.operator_add_domain("default", "go.example.org", verified=True)
    params = {"domain": "go.example.org"}
    async with client(service, "127.0.0.1") as http:
        assert (await http.get("/internal/tls-allowed", params=params)).status_code == 200
    async with client(service, "::1") as http:
        assert (await http.get("/internal/tls-allowed", params=params)).status_code == 200
    async with client(service, "203.0.113.5") as http:
        r = await http.get("/internal/tls-allowed", params=params)
        assert r.status_code == 403 and "go.example.org" not in r.text
    async with client(service, "203.0.113.5", proxies="203.0.113.0/24") as http:
        assert (await http.get("/internal/tls-allowed", params=params)).status_code == 200
        r = await http.get("/internal/tls-allowed", params={"domain": "other.example.org"})
        assert r.status_code == 404


async def test_before_any_verified_domain_every_host_is_the_servers_own(
    service: ClyptService,
) -> None:
    await service.create_link(ME, LinkCreate(url="https://e.com/old", code="old1"))
    await service.operator_add_domain("default", "pending.example.org", verified=False)
    async with client(service, "127.0.0.1") as http:
        r = await http.get("/old1", headers={"host": "127.0.0.1:8080"})  # a proxy's rewrite
        assert (r.status_code, r.headers["location"]) == (302, "https://e.com/old")
        assert (await http.get("/old1", headers={"host": "pending.example.org"})).status_code == 302
    await service.operator_add_domain("default", "live.example.org", verified=True)
    async with client(service, "127.0.0.1") as http:
        assert (await http.get("/old1", headers={"host": "127.0.0.1:8080"})).status_code == 404
        assert (await http.get("/old1", headers={"host": "clypt.test"})).status_code == 302
