"""Signing in to the dashboard with a one-time sign-in link (`clypt-mcp signin-link`): opened in
the browser (the consent flow's /oauth/signin) or pasted whole into the "API key" field; a
second use does nothing, and the session acts with the link's scopes only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.http.oauth import create_signin_link
from clypt_mcp.models import LinkCreate, Principal
from tests.conftest import BASE_URL
from tests.http.test_web import check_page_rules, csrf

pytestmark = pytest.mark.anyio


@pytest.fixture
async def site(service: ClyptService) -> AsyncIterator[httpx2.AsyncClient]:
    """The whole app, OAuth pages included, in process."""
    app = create_app(
        service, Settings(base_url=BASE_URL), ClickRecorder(service.store), store=service.store
    )
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


async def _link(service: ClyptService, *scopes: str) -> str:
    store = service.store.oauth
    return await create_signin_link(store, BASE_URL, "default", list(scopes))


async def test_a_pasted_link_signs_in_once_with_its_scopes(
    site: httpx2.AsyncClient, service: ClyptService
) -> None:
    await service.create_link(Principal(workspace_id="default"), LinkCreate(url="https://a.x/"))
    url = await _link(service, "links:read", "links:write")
    form = await site.get("/app/signin")
    signed = await site.post("/app/signin", data={"csrf": csrf(form), "api_key": url})
    assert signed.status_code == 303 and signed.headers["location"] == "/app"
    listing = await site.get("/app")
    check_page_rules(listing)
    assert "https://a.x/" in listing.text and "a one-time sign-in link" in listing.text
    token = url.split("token=")[1]
    assert token not in listing.text
    # the link's scopes, no more: no API keys page
    keys = await site.get("/app/keys")
    assert keys.status_code == 403 and "keys:write" in keys.text
    # a second use does nothing
    await site.post("/app/signout", data={"csrf": csrf(listing)})
    form = await site.get("/app/signin")
    again = await site.post("/app/signin", data={"csrf": csrf(form), "api_key": url})
    assert again.status_code == 401 and "used already" in again.text
    assert token not in again.text
    assert (await site.get("/app")).status_code == 303


async def test_a_link_opened_in_the_browser_offers_the_dashboard_sign_in(
    site: httpx2.AsyncClient, service: ClyptService
) -> None:
    url = await _link(service, "links:read")
    opened = await site.get(url.removeprefix(BASE_URL))
    assert opened.status_code == 200 and 'href="/app/signin"' in opened.text
    page = await site.get("/app/signin")
    check_page_rules(page)
    assert "Sign in with the link" in page.text and "<strong>default</strong>" in page.text
    signed = await site.post("/app/signin", data={"csrf": csrf(page), "use_link": "1"})
    assert signed.status_code == 303 and signed.headers["location"] == "/app"
    assert (await site.get("/app")).status_code == 200
    # spent: the consent page's copy of it is gone too, and the offer does not come back
    await site.post("/app/signout", data={"csrf": csrf(await site.get("/app"))})
    site.cookies.set("clypt_signin", url.split("token=")[1], domain="clypt.test")
    page = await site.get("/app/signin")
    assert "Sign in with the link" not in page.text
    refused = await site.post("/app/signin", data={"csrf": csrf(page), "use_link": "1"})
    assert refused.status_code == 401


async def test_a_made_up_link_is_refused_and_counted(
    site: httpx2.AsyncClient, service: ClyptService
) -> None:
    form = await site.get("/app/signin")
    for i in range(5):
        bad = await site.post(
            "/app/signin",
            data={"csrf": csrf(form), "api_key": f"{BASE_URL}/oauth/signin?token=clypt_sil_{i}"},
        )
        assert bad.status_code == 401
    url = await _link(service, "links:read")
    limited = await site.post("/app/signin", data={"csrf": csrf(form), "api_key": url})
    assert limited.status_code == 429 and "retry-after" in limited.headers
