"""Key IP allow-lists (#14 item 7): a key with `allow_ips` works only from those addresses, as
`serve` sees the client (the peer, or behind a trusted proxy the forwarded address); others get
403 `ip_not_allowed` over REST and MCP. Runs in process on SQLite and PostgreSQL, and against a
real `serve` made with `keys create --allow-ip`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.models import ALL_SCOPES, ApiKeyCreate
from tests.conftest import BASE_URL
from tests.http.live import serve_env, start_serve

pytestmark = pytest.mark.anyio

ACCEPT = "application/json, text/event-stream"


async def key(service: ClyptService, *allow: str) -> str:
    data = ApiKeyCreate(name="ip", scopes=sorted(ALL_SCOPES), allow_ips=list(allow) or None)
    return (await service.create_api_key("default", data)).secret


@pytest.fixture
async def http(service: ClyptService) -> AsyncIterator[httpx2.AsyncClient]:
    # ASGITransport's peer is 127.0.0.1, which is trusted here: X-Forwarded-For then names
    # the client.
    settings = Settings(base_url=BASE_URL, trusted_proxies="127.0.0.1/32")
    app = create_app(
        service, settings, ClickRecorder(service.store), store=service.store, with_mcp=True
    )
    transport = httpx2.ASGITransport(app=app)
    async with (
        app.main.router.lifespan_context(app.main),
        httpx2.AsyncClient(transport=transport, base_url="http://clypt.test") as client,
    ):
        yield client


def auth(secret: str, via: str | None = None) -> dict[str, str]:
    headers = {"authorization": f"Bearer {secret}"}
    if via:
        headers["x-forwarded-for"] = via
    return headers


async def test_rest_checks_the_forwarded_address_behind_a_trusted_proxy(
    http: httpx2.AsyncClient, service: ClyptService
) -> None:
    office = await key(service, "10.1.2.0/24", "2001:db8::/32")
    ok = await http.get("/api/v1/links", headers=auth(office, "10.1.2.77"))
    assert ok.status_code == 200
    ok6 = await http.get("/api/v1/links", headers=auth(office, "2001:db8::5"))
    assert ok6.status_code == 200
    refused = await http.get("/api/v1/links", headers=auth(office, "10.1.3.1"))
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "ip_not_allowed"
    assert "10.1.2.0/24" in body["error"] and "10.1.3.1" in body["error"]
    # without a forwarded address the client is the proxy itself, which is not on the list
    assert (await http.get("/api/v1/links", headers=auth(office))).status_code == 403
    # nothing was created by a refused write
    made = await http.post(
        "/api/v1/links", headers=auth(office, "192.0.2.1"), json={"url": "https://e.com"}
    )
    assert made.status_code == 403
    listed = await http.get("/api/v1/links", headers=auth(office, "10.1.2.1"))
    assert listed.json()["total"] == 0


async def test_a_key_without_a_list_works_from_anywhere_and_lists_show_the_list(
    http: httpx2.AsyncClient, service: ClyptService
) -> None:
    anywhere = await key(service)
    assert (
        await http.get("/api/v1/links", headers=auth(anywhere, "198.51.100.9"))
    ).status_code == 200
    one = await key(service, "203.0.113.7")
    keys = (await http.get("/api/v1/keys", headers=auth(anywhere, "1.2.3.4"))).json()["keys"]
    lists = {k["prefix"]: k["allowIps"] for k in keys}
    assert lists[anywhere[:12]] is None
    assert lists[one[:12]] == ["203.0.113.7/32"]  # a bare address is one host


async def test_rest_key_creation_takes_allow_ips_and_rejects_bad_ones(
    http: httpx2.AsyncClient, service: ClyptService
) -> None:
    admin = await key(service)
    bad = await http.post(
        "/api/v1/keys", headers=auth(admin, "1.2.3.4"),
        json={"name": "x", "scopes": ["links:read"], "allowIps": ["10.0.0.0/8", "not-an-ip"]},
    )  # fmt: skip
    assert bad.status_code == 422
    assert "allowIps" in bad.json()["error"] and "not-an-ip" in bad.json()["error"]
    assert len(await service.list_api_keys("default")) == 1
    made = await http.post(
        "/api/v1/keys", headers=auth(admin, "1.2.3.4"),
        json={"name": "x", "scopes": ["links:read"], "allowIps": ["10.9.0.0/16"]},
    )  # fmt: skip
    assert made.status_code == 201 and made.json()["allowIps"] == ["10.9.0.0/16"]
    secret = made.json()["secret"]
    assert (await http.get("/api/v1/links", headers=auth(secret, "10.9.8.7"))).status_code == 200
    assert (await http.get("/api/v1/links", headers=auth(secret, "1.2.3.4"))).status_code == 403
    # a key made by a limited key is limited the same way unless it narrows it itself
    child = await http.post(
        "/api/v1/keys", headers=auth(await key(service, "10.9.0.0/16", "127.0.0.1"), "10.9.0.1"),
        json={"name": "child", "scopes": ["links:read"]},
    )  # fmt: skip
    assert child.status_code == 201
    assert child.json()["allowIps"] == ["10.9.0.0/16", "127.0.0.1/32"]


async def test_mcp_refuses_a_key_from_another_address(
    http: httpx2.AsyncClient, service: ClyptService
) -> None:
    office = await key(service, "10.1.2.0/24")
    init = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}},
    }  # fmt: skip
    headers = {"accept": ACCEPT, "content-type": "application/json"}
    refused = await http.post("/mcp", headers=auth(office, "10.7.7.7") | headers, json=init)
    assert refused.status_code == 403
    assert refused.json()["error"] == "ip_not_allowed"
    allowed = await http.post("/mcp", headers=auth(office, "10.1.2.3") | headers, json=init)
    assert allowed.status_code == 200, allowed.text


def test_serve_checks_the_socket_address_and_keys_list_shows_the_list(tmp_path: Path) -> None:
    db = tmp_path / "clypt.db"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "clypt_mcp", *args],
            env=serve_env(db), capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    elsewhere = cli("keys", "create", "--name", "office", "--allow-ip", "10.1.2.0/24")
    here = cli("keys", "create", "--name", "here", "--allow-ip", "127.0.0.1")
    assert elsewhere.returncode == 0 and here.returncode == 0, elsewhere.stderr + here.stderr
    wrong = cli("keys", "create", "--name", "x", "--allow-ip", "10.1.2.0/33")
    assert wrong.returncode != 0 and "--allow-ip" in wrong.stderr and "10.1.2.0/33" in wrong.stderr
    listing = cli("keys", "list").stdout
    assert "from 10.1.2.0/24" in listing and "from 127.0.0.1/32" in listing
    proc, origin = start_serve(db)
    try:
        with httpx2.Client(base_url=origin, timeout=10) as client:
            r = client.get("/api/v1/links", headers=auth(elsewhere.stdout.strip()))
            assert r.status_code == 403 and r.json()["code"] == "ip_not_allowed"
            r = client.get("/api/v1/links", headers=auth(here.stdout.strip()))
            assert r.status_code == 200
            # the forwarded address counts only behind a trusted proxy
            r = client.get("/api/v1/links", headers=auth(elsewhere.stdout.strip(), "10.1.2.5"))
            assert r.status_code == 403
    finally:
        proc.terminate()
        proc.wait(30)
    proc, origin = start_serve(db, CLYPT_TRUSTED_PROXIES="127.0.0.1/32")
    try:
        with httpx2.Client(base_url=origin, timeout=10) as client:
            r = client.get("/api/v1/links", headers=auth(elsewhere.stdout.strip(), "10.1.2.5"))
            assert r.status_code == 200
            r = client.get("/api/v1/links", headers=auth(here.stdout.strip(), "10.1.2.5"))
            assert r.status_code == 403 and "10.1.2.5" in r.json()["error"]
    finally:
        proc.terminate()
        proc.wait(30)
