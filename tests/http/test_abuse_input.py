"""Issue 21 item 10: answers that were 500s with tracebacks, Host reflected in redirects, and
`nosniff` on every answer; in process, with MCP. Each test fails with its fix taken out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date

import httpx2
import pytest
from pydantic import ValidationError

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.core.urls import points_at
from clypt_mcp.errors import InvalidInputError
from clypt_mcp.http.app import create_app
from clypt_mcp.models import (
    ALL_SCOPES,
    AnalyticsQuery,
    ApiKeyCreate,
    LinkCreate,
    LinkUpdate,
    Principal,
)

pytestmark = pytest.mark.anyio
ORIGIN = "http://127.0.0.1:8080"


@pytest.fixture
async def http(service: ClyptService) -> AsyncIterator[httpx2.AsyncClient]:
    service.base_url = ORIGIN
    key = await service.create_api_key("default", ApiKeyCreate(name="k", scopes=sorted(ALL_SCOPES)))
    app = create_app(
        service, Settings(base_url=ORIGIN), ClickRecorder(service.store), store=service.store
    )
    async with (
        app.main.router.lifespan_context(app.main),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app),
            base_url=ORIGIN,
            headers={"authorization": f"Bearer {key.secret}"},
        ) as client,
    ):
        yield client


async def test_deeply_nested_json_is_a_400(http: httpx2.AsyncClient) -> None:
    r = await http.post(
        "/api/v1/links",
        content=b"[" * 40_000 + b"]" * 40_000,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["code"] == "bad_request"
    assert "nested too deeply" in r.json()["error"]


async def test_analytics_to_the_end_of_the_calendar_is_a_422(
    http: httpx2.AsyncClient, service: ClyptService
) -> None:
    r = await http.get("/api/v1/analytics?start=2026-01-01&end=9999-12-31")
    assert r.status_code == 422 and r.json()["code"] == "invalid_input"
    assert "end" in r.json()["error"]
    # the tool gets the same error (an isError result naming the field over MCP)
    query = AnalyticsQuery(start=date(2026, 1, 1), end=date(9999, 12, 31))
    with pytest.raises(InvalidInputError, match="end before 9999"):
        await service.get_analytics(Principal(workspace_id="default"), query)


@pytest.mark.parametrize(("path", "to"), [("/mcp/", "/mcp"), ("/messages?x=1", "/messages/?x=1")])
async def test_slash_redirects_are_relative_and_never_name_the_host(
    http: httpx2.AsyncClient, path: str, to: str
) -> None:
    r = await http.get(path, headers={"host": "evil.example"})
    assert r.status_code == 307
    assert r.headers["location"] == to


async def test_sse_with_a_bad_host_is_refused_without_a_traceback(
    http: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    r = await http.get("/sse", headers={"host": "evil.example"})
    assert r.status_code in (400, 421)
    assert not [rec for rec in caplog.records if rec.exc_info]


@pytest.mark.parametrize(
    "path", ["/healthz", "/llms.txt", "/api/v1/links", "/api/v1/nope", "/mcp", "/nope-code"]
)
async def test_every_answer_says_nosniff(http: httpx2.AsyncClient, path: str) -> None:
    r = await http.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"


# --- the loop check, with hosts as the browser resolves them (item 7) -------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://ｃｌｙｐｔ.test/x",  # fullwidth letters
        "https://clypt\u3002test/x",  # ideographic full stop
        "https://clypt\uff0etest/x",  # fullwidth full stop
        "https://CLYPT.test./x",
    ],
)
async def test_look_alike_spellings_of_the_own_host_are_loops(
    service: ClyptService, url: str
) -> None:
    service.base_url = "https://clypt.test"
    with pytest.raises(InvalidInputError, match="loop"):
        await service.create_link(Principal(workspace_id="default"), LinkCreate(url=url))


@pytest.mark.parametrize(
    "host",
    ["127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "[::ffff:127.0.0.1]", "localhost",
     "app.localhost", "１２７.０.０.１", "127.0.0.2", "[::1]"],
)  # fmt: skip
async def test_loopback_aliases_of_a_loopback_base_are_loops(
    service: ClyptService, host: str
) -> None:
    service.base_url = "http://127.0.0.1:8080"
    with pytest.raises(InvalidInputError, match="loop"):
        await service.create_link(
            Principal(workspace_id="default"), LinkCreate(url=f"http://{host}:8080/x")
        )


@pytest.mark.parametrize("char", ["\u00ad", "\u200b", "\u200d", "\u2060", "\ufeff"])
def test_invisible_characters_in_a_host_are_refused(char: str) -> None:
    with pytest.raises(ValidationError, match="invisible"):
        LinkCreate(url=f"https://clyp{char}t.test/x")


def test_other_hosts_are_not_loops() -> None:
    assert not points_at("https://bücher.de/", "https://clypt.test")
    assert not points_at("http://127.0.0.1:9090/", "http://127.0.0.1:8080")
    assert not points_at("https://example.com/", "https://clypt.test")
    assert points_at("https://xn--bcher-kva.de/", "https://bücher.de")


async def test_a_verified_custom_domain_of_this_server_is_a_loop(service: ClyptService) -> None:
    service.base_url = "https://clypt.test"
    owner = Principal(workspace_id="default")
    await service.operator_add_domain("other-team", "go.acme.example", True)
    await service.operator_add_domain("default", "pending.example", False)
    for url in (
        "https://go.acme.example/x",
        "http://GO.ACME.example./x",
        "https://ｇｏ.acme\u3002example/x",
        "https://go.acme.example:443/x",
    ):
        with pytest.raises(InvalidInputError, match="loop"):
            await service.create_link(owner, LinkCreate(url=url))
    # in a variant, and on update, the same
    link = await service.create_link(owner, LinkCreate(url="https://example.com/"))
    with pytest.raises(InvalidInputError, match="loop"):
        await service.update_link(owner, link.id, LinkUpdate(url="https://go.acme.example/y"))
    # a domain not verified (so not served) and another port are not this server
    for url in ("https://pending.example/x", "https://go.acme.example:8443/x"):
        assert (await service.create_link(owner, LinkCreate(url=url))).url == url
