"""OAuth 2.1 end to end over a real `clypt-mcp serve`: the MCP SDK's own OAuth client connects,
the test plays the person on the consent page, and `clypt-mcp apps revoke` cuts the app off."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.auth.oauth2 import OAuthClientProvider, TokenStorage
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.http.live import (
    free_port,
    make_key,
    serve_env,
    start_serve,
    start_serve_with,
    started,
)
from tests.http.oauth_person import Person

pytestmark = pytest.mark.anyio
MCP_ACCEPT = {"accept": "application/json, text/event-stream"}


class Memory(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    db = tmp_path / "clypt.db"
    key = make_key(db)
    proc, origin = start_serve(db, CLYPT_DEV_ALLOW_LOOPBACK="true")
    try:
        yield db, origin, key
    finally:
        proc.terminate()
        proc.wait(15)


def cli(db: Path, origin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clypt_mcp", *args],
        env=serve_env(db) | {"CLYPT_BASE_URL": origin},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@asynccontextmanager
async def oauth(origin: str, person: Person, storage: Memory) -> AsyncIterator[Client]:
    provider = OAuthClientProvider(
        f"{origin}/mcp",
        OAuthClientMetadata(
            client_name="Test Assistant",
            redirect_uris=["http://127.0.0.1:9/callback"],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage,
        redirect_handler=person.redirect_handler,
        callback_handler=person.callback_handler,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        Client(streamable_http_client(f"{origin}/mcp", http_client=http)) as client,
    ):
        yield client


async def test_sdk_client_connects_by_dynamic_registration_and_apps_revoke_cuts_it_off(
    served: tuple[Path, str, str],
) -> None:
    db, origin, key = served
    person = Person(key=key, tick=["links:read"])
    storage = Memory()
    async with person.browser:
        with anyio.fail_after(60):
            await connect_and_step_up(db, origin, person, storage)


async def connect_and_step_up(db: Path, origin: str, person: Person, storage: Memory) -> None:
    async with oauth(origin, person, storage) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "list_links" in tools and "create_link" not in tools
        listed = await client.call_tool("list_links", {})
        assert not listed.is_error
    assert storage.client is not None and storage.tokens is not None
    assert storage.tokens.scope == "links:read"
    assert person.urls and "resource=" in person.urls[0]

    # A write tool: 403 insufficient_scope; the SDK asks the person again for links:write.
    with pytest.raises(BaseException):  # noqa: B017 - the SDK wraps the declined step-up
        async with oauth(origin, person, storage) as client:
            await client.call_tool("create_link", {"url": "https://example.com/x"})
    step_up = parse_qs(urlsplit(person.urls[-1]).query)
    assert "links:write" in step_up["scope"][0].split()

    listed_apps = cli(db, origin, "apps", "list")
    assert listed_apps.returncode == 0, listed_apps.stderr
    (line,) = listed_apps.stdout.strip().splitlines()
    app_id, name, workspace, scopes, status = line.split("\t")
    assert (name, workspace, scopes, status) == (
        "Test Assistant",
        "default",
        "links:read",
        "active",
    )
    revoked = cli(db, origin, "apps", "revoke", app_id)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in cli(db, origin, "apps", "list").stdout

    async with httpx2.AsyncClient(timeout=10) as http:
        access = storage.tokens.access_token
        call = await http.post(
            f"{origin}/mcp",
            headers={
                "authorization": f"Bearer {access}",
                "accept": "application/json, text/event-stream",
            },
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        assert call.status_code == 401
        assert 'error="invalid_token"' in call.headers["www-authenticate"]
        refresh = await http.post(
            f"{origin}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": storage.tokens.refresh_token or "",
                "client_id": storage.client.client_id,
            },
        )
        assert refresh.status_code == 400
        assert refresh.json()["error"] == "invalid_grant"


async def test_sdk_client_connects_to_sse_by_oauth_with_a_token_bound_to_sse(
    served: tuple[Path, str, str],
) -> None:
    """The older SSE transport is its own protected resource: the SDK's client discovers
    /sse's metadata, gets a token for /sse, and that token does not open /mcp."""
    _, origin, key = served
    person = Person(key=key, tick=["links:read"])
    storage = Memory()
    provider = OAuthClientProvider(
        f"{origin}/sse",
        OAuthClientMetadata(
            client_name="SSE Assistant",
            redirect_uris=["http://127.0.0.1:9/callback"],
            token_endpoint_auth_method="none",
        ),
        storage,
        redirect_handler=person.redirect_handler,
        callback_handler=person.callback_handler,
    )
    async with person.browser:
        with anyio.fail_after(60):
            async with Client(sse_client(f"{origin}/sse", auth=provider)) as client:
                tools = {t.name for t in (await client.list_tools()).tools}
                assert "list_links" in tools and "create_link" not in tools
                assert not (await client.call_tool("list_links", {})).is_error
    assert person.urls and f"resource={quote(origin + '/sse', safe='')}" in person.urls[0]
    assert storage.tokens is not None
    async with httpx2.AsyncClient(timeout=10) as http:
        call = await http.post(
            f"{origin}/mcp",
            headers={
                "authorization": f"Bearer {storage.tokens.access_token}",
                "accept": "application/json, text/event-stream",
            },
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        assert call.status_code == 401
        assert 'error="invalid_token"' in call.headers["www-authenticate"]
        assert f"{origin}/sse" in call.json()["message"]


class RecordingPerson(Person):
    """A Person who also remembers the authorization codes they handed over."""

    codes: list[str]

    async def callback_handler(self) -> AuthorizationCodeResult:
        result = await super().callback_handler()
        self.codes.append(result.code)
        return result


async def test_no_token_code_key_or_signin_link_reaches_the_serve_log_at_debug(
    tmp_path: Path,
) -> None:
    db = tmp_path / "clypt.db"
    key = make_key(db)
    proc, origin = start_serve_with(db, ("--log-level", "DEBUG"), {})
    log = db.with_name(f"{db.name}.serve-{urlsplit(origin).port}.log")
    person = RecordingPerson(key=key, tick=["links:read"])
    person.codes = []
    storage = Memory()
    try:
        async with person.browser:
            with anyio.fail_after(60):
                async with oauth(origin, person, storage) as client:
                    assert not (await client.call_tool("list_links", {})).is_error
        assert storage.tokens is not None and storage.client is not None and person.codes
        first = storage.tokens
        link = cli(db, origin, "signin-link", "--scopes", "links:read").stdout.strip()
        async with httpx2.AsyncClient(timeout=10) as http:
            refresh = {
                "grant_type": "refresh_token",
                "refresh_token": first.refresh_token or "",
                "client_id": storage.client.client_id,
            }
            rotated = await http.post(f"{origin}/token", data=refresh)
            assert rotated.status_code == 200, rotated.text
            reused = await http.post(f"{origin}/token", data=refresh)  # logged as a reuse
            assert reused.json()["error"] == "invalid_grant"
            for bearer in (first.access_token, first.access_token + "x", key + "x"):
                await http.post(
                    f"{origin}/mcp",
                    headers={"authorization": f"Bearer {bearer}", **MCP_ACCEPT},
                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                )
            for _ in range(2):  # used, then spent
                await http.get(link)
            await http.get(f"{origin}/oauth/signin?token=clypt_sil_madeup")
    finally:
        proc.terminate()
        proc.wait(15)
    text = log.read_text(errors="replace")
    assert "DEBUG" in text and "reused" in text, text[-2000:]  # the log did record the flow
    secrets_ = [
        key,
        *person.codes,
        first.access_token,
        first.refresh_token or "",
        rotated.json()["access_token"],
        rotated.json()["refresh_token"],
        link.split("token=")[1],
    ]
    for secret in secrets_:
        assert secret and secret not in text
    assert "clypt_oat_" not in text and "clypt_ort_" not in text and "clypt_sil_" not in text


@asynccontextmanager
async def document_server(port_holder: dict[str, str]) -> AsyncIterator[str]:
    """A loopback server of one Client ID Metadata Document; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/client.json"

    async def document(request: Request) -> JSONResponse:
        port_holder["fetched"] = "yes"
        return JSONResponse(
            {
                "client_id": url,
                "client_name": "Document Client",
                "redirect_uris": ["http://127.0.0.1:9/callback"],
                "token_endpoint_auth_method": "none",
            }
        )

    app = Starlette(routes=[Route("/client.json", document)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await started(server)
        try:
            yield url
        finally:
            server.should_exit = True


async def test_sdk_client_connects_with_a_client_id_metadata_document(
    served: tuple[Path, str, str],
) -> None:
    db, origin, key = served
    seen: dict[str, str] = {}
    async with document_server(seen) as url:
        person = Person(key=key, tick=["links:read", "links:write"])
        storage = Memory()
        # The SDK insists on https:// for its own client_metadata_url; the document's URL is
        # handed to it as the client id it already holds, which it then uses as is.
        storage.client = OAuthClientInformationFull(
            client_id=url,
            redirect_uris=["http://127.0.0.1:9/callback"],
            token_endpoint_auth_method="none",
            issuer=origin,
        )
        async with person.browser, oauth(origin, person, storage) as client:
            with anyio.fail_after(60):
                made = await client.call_tool("create_link", {"url": "https://example.com/cimd"})
                assert not made.is_error, made
        assert seen.get("fetched") == "yes"
        listed = cli(db, origin, "apps", "list").stdout
        assert "Document Client" in listed and "links:read,links:write" in listed.replace(" ", ",")
        meta = json.loads(
            httpx2.get(f"{origin}/.well-known/oauth-authorization-server", timeout=10).text
        )
        assert meta["client_id_metadata_document_supported"] is True
        assert meta["issuer"] == origin


async def test_signin_link_prints_a_one_time_url_that_signs_a_browser_in(
    served: tuple[Path, str, str],
) -> None:
    db, origin, _ = served
    made = cli(db, origin, "signin-link", "--workspace", "team", "--scopes", "links:read")
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip()
    assert link.startswith(f"{origin}/oauth/signin?token=clypt_sil_")
    assert "team" in made.stderr and link not in made.stderr
    bad = cli(db, origin, "signin-link", "--scopes", "links:fly")
    assert bad.returncode == 2 and "--scopes" in bad.stderr
    async with httpx2.AsyncClient(timeout=10) as browser:
        opened = await browser.get(link)
        assert opened.status_code == 200 and "team" in opened.text
        assert "clypt_signin" in opened.headers["set-cookie"]
        assert "httponly" in opened.headers["set-cookie"].lower()
