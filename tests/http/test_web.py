"""The home page and the dashboard over HTTP, in process: pages, sessions, CSRF, isolation."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

import httpx2
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.models import LinkCreate, LinkQuery, Principal, Scope
from tests.conftest import BASE_URL
from tests.http.conftest import KeyFactory

pytestmark = pytest.mark.anyio

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def web(service: ClyptService) -> AsyncIterator[httpx2.AsyncClient]:
    app = create_app(
        service,
        Settings(base_url=BASE_URL),
        ClickRecorder(service.store),
        with_mcp=False,
        store=service.store,
    )
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="https://clypt.test") as http:
        yield http


def csrf(page: httpx2.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def sign_in(http: httpx2.AsyncClient, key: str) -> httpx2.Response:
    form = await http.get("/app/signin")
    assert form.status_code == 200
    answer = await http.post("/app/signin", data={"csrf": csrf(form), "api_key": key})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/app"
    return answer


def check_page_rules(page: httpx2.Response) -> None:
    """The rules every HTML page keeps (contract #18)."""
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    script = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert script.split()[1:] == ["'self'"]
    assert page.headers["x-frame-options"] == "DENY"
    assert '<meta name="viewport" content="width=device-width' in page.text
    # no inline script: only the dashboard's own chart script, by URL
    scripts = re.findall(r"<script[^>]*>", page.text, re.I)
    assert all(s == '<script src="/app/static/chart.js" defer>' for s in scripts), scripts
    assert not re.search(r"\son[a-z]+\s*=", page.text, re.I)
    assert "javascript:" not in page.text.lower()


async def test_the_home_page_says_what_this_is_and_names_no_workspace(
    web: httpx2.AsyncClient, service: ClyptService
) -> None:
    await service.create_link(
        Principal(workspace_id="secretive"), LinkCreate(url="https://a.example/x")
    )
    page = await web.get("/")
    assert page.status_code == 200
    check_page_rules(page)
    for needed in (
        "/app",
        "/llms.txt",
        "/api/v1/openapi.json",
        f"{BASE_URL}/mcp",
        "Health: healthy",
    ):
        assert needed in page.text
    assert "secretive" not in page.text and "a.example" not in page.text
    assert '"mcpServers"' in page.text.replace("&#34;", '"')

    markdown = await web.get("/", headers={"Accept": "text/markdown"})
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# Clypt")
    assert f"`{BASE_URL}/mcp`" in markdown.text and "(/api/v1/openapi.json)" in markdown.text


async def test_signed_out_the_dashboard_asks_for_a_key(web: httpx2.AsyncClient) -> None:
    answer = await web.get("/app")
    assert answer.status_code == 303 and answer.headers["location"] == "/app/signin"
    page = await web.get("/app/signin")
    check_page_rules(page)
    assert page.text.count(">API key</label>") == 1
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


async def test_sign_in_sets_a_server_side_session_and_never_shows_the_key(
    web: httpx2.AsyncClient, make_key: KeyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    key = await make_key()
    answer = await sign_in(web, key)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("clypt_session=") and key not in cookie
    assert "HttpOnly" in cookie and "Secure" in cookie and "samesite=lax" in cookie.lower()
    for path in ("/app", "/app/links/new", "/app/analytics", "/app/keys"):
        page = await web.get(path)
        assert page.status_code == 200, (path, page.text)
        check_page_rules(page)
        assert key not in page.text
    assert key not in caplog.text


async def test_a_wrong_key_is_refused_without_being_echoed(web: httpx2.AsyncClient) -> None:
    form = await web.get("/app/signin")
    wrong = "clypt_" + "x" * 40
    answer = await web.post("/app/signin", data={"csrf": csrf(form), "api_key": wrong})
    assert answer.status_code == 401
    assert wrong not in answer.text and "not valid" in answer.text
    assert (await web.get("/app")).status_code == 303


async def test_a_post_without_the_right_csrf_token_changes_nothing(
    web: httpx2.AsyncClient, service: ClyptService, make_key: KeyFactory
) -> None:
    await sign_in(web, await make_key())
    owner = Principal(workspace_id="default")
    for data in ({"url": "https://a.example/1"}, {"url": "https://a.example/2", "csrf": "nope"}):
        answer = await web.post("/app/links", data=data)
        assert answer.status_code == 403
    assert (await service.list_links(owner, _all())).total == 0

    page = await web.get("/app/links/new")
    made = await web.post("/app/links", data={"csrf": csrf(page), "url": "https://a.example/3"})
    assert made.status_code == 303
    assert (await service.list_links(owner, _all())).total == 1


async def test_another_sessions_token_is_refused(
    service: ClyptService, make_key: KeyFactory
) -> None:
    settings = Settings(base_url=BASE_URL)
    app = create_app(
        service, settings, ClickRecorder(service.store), with_mcp=False, store=service.store
    )
    transport = httpx2.ASGITransport(app=app)
    async with (
        httpx2.AsyncClient(transport=transport, base_url="https://clypt.test") as alice,
        httpx2.AsyncClient(transport=transport, base_url="https://clypt.test") as mallory,
    ):
        await sign_in(alice, await make_key())
        await sign_in(mallory, await make_key())
        token = csrf(await mallory.get("/app/links/new"))
        answer = await alice.post("/app/links", data={"csrf": token, "url": "https://a.example/"})
        assert answer.status_code == 403
    assert (await service.list_links(Principal(workspace_id="default"), _all())).total == 0


async def test_a_session_sees_only_its_own_workspace(
    web: httpx2.AsyncClient, service: ClyptService, make_key: KeyFactory
) -> None:
    theirs = await service.create_link(
        Principal(workspace_id="other"), LinkCreate(url="https://theirs.example/", code="theirs")
    )
    await sign_in(web, await make_key())
    listing = await web.get("/app", params={"status": "all"})
    assert "theirs.example" not in listing.text
    page = await web.get(f"/app/links/{theirs.id}")
    assert page.status_code == 404 and "theirs.example" not in page.text
    qr = await web.get(f"/app/links/{theirs.id}/qr.png")
    assert qr.status_code == 404


async def test_revoking_the_sessions_key_ends_the_session(
    web: httpx2.AsyncClient, service: ClyptService, make_key: KeyFactory
) -> None:
    key = await make_key()
    await sign_in(web, key)
    assert (await web.get("/app")).status_code == 200
    principal = await service.authenticate(key)
    assert principal.key_id is not None
    await service.revoke_api_key("default", principal.key_id)
    answer = await web.get("/app")
    assert answer.status_code == 303 and answer.headers["location"] == "/app/signin"


async def test_the_keys_page_needs_keys_write_and_grants_no_more_than_the_key_has(
    web: httpx2.AsyncClient, service: ClyptService, make_key: KeyFactory
) -> None:
    await sign_in(web, await make_key(Scope.LINKS_READ, Scope.KEYS_WRITE))
    page = await web.get("/app/keys")
    assert page.status_code == 200
    answer = await web.post(
        "/app/keys", data={"csrf": csrf(page), "name": "more", "scope": ["links:write"]}
    )
    assert answer.status_code == 403 and "links:write" in answer.text
    made = await web.post(
        "/app/keys", data={"csrf": csrf(page), "name": "reader", "scope": ["links:read"]}
    )
    assert made.status_code == 201
    secret = re.search(r'id="new-key">([^<]+)<', made.text)
    assert secret and (await service.authenticate(secret.group(1))).scopes == {Scope.LINKS_READ}
    assert "reader" in (await web.get("/app/keys")).text

    web.cookies.clear()
    await sign_in(web, await make_key(Scope.LINKS_READ))
    assert (await web.get("/app/keys")).status_code == 403


def _all() -> LinkQuery:
    return LinkQuery(status="all")


async def test_away_from_this_machine_the_snippet_names_no_local_path(
    service: ClyptService,
) -> None:
    app = create_app(
        service,
        Settings(base_url=BASE_URL),
        ClickRecorder(service.store),
        with_mcp=False,
        store=service.store,
    )
    transport = httpx2.ASGITransport(app=app, client=("203.0.113.7", 4000))
    async with httpx2.AsyncClient(transport=transport, base_url="https://clypt.test") as http:
        markdown = (await http.get("/", headers={"Accept": "text/markdown"})).text
    assert '"command": "clypt-mcp"' in markdown
    assert os.sep + "clypt-mcp" not in markdown.split("```json", 1)[1].split("```", 1)[0]


async def test_wrong_keys_at_sign_in_are_limited_per_address(
    web: httpx2.AsyncClient, make_key: KeyFactory
) -> None:
    key = await make_key()
    form = await web.get("/app/signin")
    token = csrf(form)
    for _ in range(5):
        wrong = await web.post("/app/signin", data={"csrf": token, "api_key": "clypt_nope"})
        assert wrong.status_code == 401
    refused = await web.post("/app/signin", data={"csrf": token, "api_key": key})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert (await web.get("/app")).status_code == 303  # not signed in
