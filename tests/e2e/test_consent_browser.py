"""The OAuth consent page in a real headless Chromium: a person signed in by a one-time sign-in
link approves a client without typing a key, and the browser follows the redirect (which the
page's CSP `form-action` must allow) to the client's callback with a code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import httpx2
import pytest
import uvicorn

from clypt_mcp.config import Settings
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.http.oauth import create_signin_link
from tests.e2e.test_browser import Browser, browser, landing  # noqa: F401 - fixtures
from tests.http.live import free_port, started
from tests.http.test_oauth import pkce

pytestmark = pytest.mark.anyio


@pytest.fixture
async def oauth_origin(service: ClyptService) -> AsyncIterator[str]:
    """The whole app under uvicorn, its base URL its own origin (the OAuth issuer)."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    app = create_app(service, Settings(base_url=origin), store=service.store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await started(server)
        try:
            yield origin
        finally:
            server.should_exit = True


async def test_a_signin_link_approves_a_client_in_chromium(
    browser: Browser,  # noqa: F811
    service: ClyptService,
    oauth_origin: str,
    landing: str,  # noqa: F811
) -> None:
    origin, callback = oauth_origin, landing  # the landing page plays the client's callback
    async with httpx2.AsyncClient(base_url=origin, timeout=10) as http:
        registered = await http.post(
            "/register",
            json={
                "client_name": "Browser Client",
                "redirect_uris": [callback],
                "token_endpoint_auth_method": "none",
            },
        )
        assert registered.status_code == 201, registered.text
        client_id = registered.json()["client_id"]
        _, challenge = pkce()
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": callback,
            "state": "browser-state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": "links:read links:write",
        }
        authorize = f"{origin}/authorize?{urlencode(query)}"
        consent_url = (await http.get(authorize)).headers["location"]
        headers = (await http.get(consent_url)).headers
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]

    store = service.store.oauth
    link = await create_signin_link(store, origin, "default", ["links:read"])
    await browser.open(link)
    await browser.wait_for_text("Signed in")

    await browser.open(authorize)
    await browser.wait_for_text("Browser Client")
    assert await browser.count("input[name=key]") == 0  # the link signed this browser in
    assert await browser.count('input[type=checkbox][name=scope][value="links:read"]') == 1
    csrf = await browser.find("input[type=hidden][name=csrf]")
    token = await browser.call("GET", f"/element/{csrf}/property/value")
    assert isinstance(token, str) and len(token) >= 16
    await browser.click("button[value=approve]")

    async def called_back() -> bool:
        return (await browser.url()).startswith(callback)

    await browser.wait_until("the browser reaches the client's callback", called_back)
    answer = parse_qs(urlsplit(await browser.url()).query)
    assert answer["state"] == ["browser-state"] and answer["iss"] == [origin]
    assert answer["code"][0].startswith("clypt_oac_")
    (grant,) = await store.list_grants("default")
    assert grant.scopes == ["links:read"]  # links:write was ticked, the link only had read

    # The link was spent: opening it again signs nobody in.
    await browser.open(link)
    await browser.wait_for_text("expired or was used already")
