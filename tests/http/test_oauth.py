"""The authorization server's rules, each refused with the RFC's error code: the app in process
over ASGITransport, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http import oauth
from clypt_mcp.http.app import ClyptApp, create_app
from clypt_mcp.http.oauth import create_signin_link
from clypt_mcp.http.ratelimit import RateLimiter
from clypt_mcp.models import ApiKeyCreate, Scope
from tests.conftest import BASE_URL
from tests.http.oauth_person import csrf_of
from tests.store.dump import dump_all

pytestmark = pytest.mark.anyio
REDIRECT = "http://127.0.0.1:9/callback"
MCP_HEADERS = {"accept": "application/json, text/event-stream"}


@dataclass
class World:
    http: httpx2.AsyncClient
    app: ClyptApp
    service: ClyptService
    key: str


@pytest.fixture
async def world(service: ClyptService) -> AsyncIterator[World]:
    app = create_app(
        service, Settings(base_url=BASE_URL), ClickRecorder(service.store), store=service.store
    )
    key = (
        await service.create_api_key("default", ApiKeyCreate(name="k", scopes=sorted(Scope)))
    ).secret
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield World(http, app, service, key)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


async def register(w: World, redirect_uris: list[str] | None = None, **extra: Any) -> str:
    body = {
        "client_name": "Test App",
        "redirect_uris": redirect_uris or [REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        **extra,
    }
    answer = await w.http.post("/register", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["client_id"])


def authorize_url(client_id: str, challenge: str, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": f"{BASE_URL}/mcp",
        "scope": "links:read links:write",
    } | extra
    return "/authorize?" + urlencode(params)


async def consent(w: World, url: str) -> tuple[str, httpx2.Response]:
    start = await w.http.get(url)
    assert start.status_code == 302, start.text
    location = start.headers["location"]
    assert location.startswith(f"{BASE_URL}/oauth/consent?request=")
    page = await w.http.get(location)
    return parse_qs(urlsplit(location).query)["request"][0], page


async def answer(
    w: World, handle: str, page: httpx2.Response, key: str, tick: list[str], **extra: str
) -> httpx2.Response:
    form = {"request": handle, "csrf": csrf_of(page.text), "key": key, "action": "approve"}
    return await w.http.post("/oauth/consent", data={**form, "scope": tick, **extra})


async def code_for(
    w: World, client_id: str, challenge: str, tick: list[str] | None = None, key: str = ""
) -> str:
    handle, page = await consent(w, authorize_url(client_id, challenge))
    done = await answer(w, handle, page, key or w.key, tick or ["links:read"])
    assert done.status_code == 303, done.text
    query = parse_qs(urlsplit(done.headers["location"]).query)
    assert query["state"] == ["s1"] and query["iss"] == [BASE_URL]
    return query["code"][0]


async def exchange(w: World, client_id: str, code: str, verifier: str | None) -> httpx2.Response:
    data = {"grant_type": "authorization_code", "code": code, "client_id": client_id}
    data["redirect_uri"] = REDIRECT
    if verifier is not None:
        data["code_verifier"] = verifier
    return await w.http.post("/token", data=data)


async def tokens(w: World, tick: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    client_id = await register(w)
    verifier, challenge = pkce()
    code = await code_for(w, client_id, challenge, tick)
    got = await exchange(w, client_id, code, verifier)
    assert got.status_code == 200, got.text
    return client_id, got.json()


async def mcp_status(w: World, token: str, method: str = "tools/list", **params: Any) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = await w.http.post(
        "/mcp", json=body, headers={**MCP_HEADERS, "authorization": f"Bearer {token}"}
    )
    return answer.status_code


async def test_metadata_names_one_issuer_everywhere(world: World) -> None:
    meta = (await world.http.get("/.well-known/oauth-authorization-server")).json()
    prm = (await world.http.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert meta["issuer"] == BASE_URL == prm["authorization_servers"][0]
    assert prm["resource"] == f"{BASE_URL}/mcp"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["client_id_metadata_document_supported"] is True
    assert meta["registration_endpoint"] == f"{BASE_URL}/register"
    assert meta["revocation_endpoint"] == f"{BASE_URL}/revoke"
    assert {"authorization_code", "refresh_token"} <= set(meta["grant_types_supported"])


async def test_mcp_401_tells_a_missing_credential_from_a_wrong_one(world: World) -> None:
    bare = await world.http.post("/mcp", json={}, headers=MCP_HEADERS)
    assert bare.status_code == 401
    challenge = bare.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and "error=" not in challenge
    assert f'resource_metadata="{BASE_URL}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert "clypt-mcp keys create" in bare.json()["message"]
    for wrong in ("clypt_not-a-key", "clypt_oat_made-up"):
        answer = await world.http.post(
            "/mcp", json={}, headers={**MCP_HEADERS, "authorization": f"Bearer {wrong}"}
        )
        assert answer.status_code == 401
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    sse = await world.http.get("/sse")
    assert sse.status_code == 401 and "resource_metadata=" in sse.headers["www-authenticate"]


async def test_pkce_plain_or_missing_challenge_is_invalid_request(world: World) -> None:
    client_id = await register(world)
    for extra in ({"code_challenge_method": "plain"}, {"code_challenge": ""}):
        start = await world.http.get(authorize_url(client_id, "x" * 43, **extra))
        assert start.status_code == 302
        location = start.headers["location"]
        assert location.startswith(REDIRECT)
        assert parse_qs(urlsplit(location).query)["error"] == ["invalid_request"]


async def test_missing_or_wrong_verifier_is_invalid_grant(world: World) -> None:
    client_id = await register(world)
    verifier, challenge = pkce()
    code = await code_for(world, client_id, challenge)
    for bad in (None, "", "wrong-" + verifier):
        got = await exchange(world, client_id, code, bad)
        assert got.status_code == 400 and got.json()["error"] == "invalid_grant", got.text
    assert (await exchange(world, client_id, code, verifier)).status_code == 200


async def test_a_code_used_twice_is_refused_and_revokes_its_tokens(world: World) -> None:
    client_id = await register(world)
    verifier, challenge = pkce()
    code = await code_for(world, client_id, challenge)
    first = await exchange(world, client_id, code, verifier)
    assert first.status_code == 200
    body = first.json()
    assert first.headers["cache-control"] == "no-store"
    assert body["expires_in"] == 3600 and body["scope"] == "links:read"
    again = await exchange(world, client_id, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert await mcp_status(world, body["access_token"]) == 401


async def test_a_code_for_another_client_is_invalid_grant(world: World) -> None:
    mine, theirs = await register(world), await register(world)
    verifier, challenge = pkce()
    code = await code_for(world, mine, challenge)
    got = await exchange(world, theirs, code, verifier)
    assert got.status_code == 400 and got.json()["error"] == "invalid_grant"


async def test_redirect_uris_match_exactly_except_a_loopback_port(world: World) -> None:
    client_id = await register(world, ["https://app.example/cb", REDIRECT])
    _, challenge = pkce()
    for other in ("https://app.example/cb2", "https://app.example:8443/cb", "https://evil.test/cb"):
        start = await world.http.get(authorize_url(client_id, challenge, redirect_uri=other))
        assert start.status_code == 400, other
        assert "location" not in start.headers
        assert "not registered" in start.text and start.headers["x-frame-options"] == "DENY"
    moved = await world.http.get(
        authorize_url(client_id, challenge, redirect_uri="http://127.0.0.1:51234/callback")
    )
    assert moved.status_code == 302
    assert "/oauth/consent?" in moved.headers["location"]


@pytest.mark.parametrize(
    "uri",
    ["javascript:alert(1)", "data:text/html,hi", "file:///etc/passwd", "http://app.example/cb"],
)
async def test_registration_refuses_dangerous_redirect_uris(world: World, uri: str) -> None:
    answer = await world.http.post(
        "/register", json={"redirect_uris": [uri], "token_endpoint_auth_method": "none"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")
    if not uri.startswith(("javascript", "data")):  # the SDK's URL type refuses those itself
        assert answer.json()["error"] == "invalid_redirect_uri"


async def test_a_token_for_another_resource_is_invalid_target(world: World) -> None:
    client_id = await register(world)
    verifier, challenge = pkce()
    start = await world.http.get(
        authorize_url(client_id, challenge, resource="https://other.example/mcp")
    )
    assert parse_qs(urlsplit(start.headers["location"]).query)["error"] == ["invalid_target"]
    code = await code_for(world, client_id, challenge)
    got = await world.http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "resource": "https://other.example/mcp",
        },
    )
    assert got.status_code == 400 and got.json()["error"] == "invalid_target"


async def test_sse_is_its_own_resource_and_tokens_stay_on_theirs(world: World) -> None:
    bare = await world.http.get("/sse")
    assert bare.status_code == 401
    sse_metadata = f"{BASE_URL}/.well-known/oauth-protected-resource/sse"
    assert f'resource_metadata="{sse_metadata}"' in bare.headers["www-authenticate"]
    prm = (await world.http.get(sse_metadata)).json()
    assert prm["resource"] == f"{BASE_URL}/sse" and prm["authorization_servers"] == [BASE_URL]

    client_id = await register(world)
    verifier, challenge = pkce()
    url = authorize_url(client_id, challenge, resource=f"{BASE_URL}/sse")
    handle, page = await consent(world, url)
    done = await answer(world, handle, page, world.key, ["links:read"])
    code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    # The code was for /sse: asking to spend it on /mcp is refused, and changes nothing.
    widened = await world.http.post("/token", data={**data, "resource": f"{BASE_URL}/mcp"})
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_target"
    got = await world.http.post("/token", data={**data, "resource": f"{BASE_URL}/sse"})
    assert got.status_code == 200, got.text
    sse_token = got.json()["access_token"]
    _, mcp_body = await tokens(world)

    async def post_message(token: str) -> httpx2.Response:
        return await world.http.post(
            f"/messages/?session_id={'0' * 32}",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"authorization": f"Bearer {token}"},
        )

    # Past the gate, the SSE transport answers for itself (no such session), not 401.
    assert (await post_message(sse_token)).status_code not in (401, 403)
    for status_of in (
        await post_message(mcp_body["access_token"]),
        await world.http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={**MCP_HEADERS, "authorization": f"Bearer {sse_token}"},
        ),
    ):
        assert status_of.status_code == 401
        assert 'error="invalid_token"' in status_of.headers["www-authenticate"]
        assert "issued for" in status_of.json()["message"]
    # an API key is no OAuth token: it opens both
    assert (await post_message(world.key)).status_code not in (401, 403)


async def test_an_expired_access_token_is_invalid_token(world: World) -> None:
    _, body = await tokens(world)
    provider = world.app.state.oauth
    assert provider is not None
    provider.clock = lambda: time.time() + 3601
    assert await mcp_status(world, body["access_token"]) == 401


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_family(world: World) -> None:
    client_id, body = await tokens(world)

    async def refresh(token: str) -> httpx2.Response:
        return await world.http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id},
        )

    rotated = await refresh(body["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    fresh = rotated.json()
    assert fresh["refresh_token"] != body["refresh_token"]
    reused = await refresh(body["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # The thief's replay also ends the current holder's tokens.
    assert (await refresh(fresh["refresh_token"])).json()["error"] == "invalid_grant"
    assert await mcp_status(world, fresh["access_token"]) == 401


async def test_a_write_call_without_its_scope_is_a_403_step_up(world: World) -> None:
    _, body = await tokens(world, ["links:read"])
    answer = await world.http.post(
        "/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "create_link", "arguments": {"url": "https://example.com"}},
        },
        headers={**MCP_HEADERS, "authorization": f"Bearer {body['access_token']}"},
    )
    assert answer.status_code == 403
    challenge = answer.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="links:write"' in challenge
    assert "links:write" in answer.json()["message"]


async def test_revocation_ends_tokens_and_accepts_unknown_ones(world: World) -> None:
    client_id, body = await tokens(world)
    unknown = await world.http.post("/revoke", data={"token": "nope", "client_id": client_id})
    assert unknown.status_code == 200
    done = await world.http.post(
        "/revoke", data={"token": body["access_token"], "client_id": client_id}
    )
    assert done.status_code == 200
    assert await mcp_status(world, body["access_token"]) == 401


async def test_consent_page_is_framing_proof_csrf_protected_and_script_free(world: World) -> None:
    client_id = await register(world)
    _, challenge = pkce()
    handle, page = await consent(world, authorize_url(client_id, challenge))
    assert page.headers["x-frame-options"] == "DENY"
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "form-action 'self' http://127.0.0.1:9" in csp
    script = re.search(r"script-src ([^;]+)", csp)
    assert script is not None and script.group(1).strip() == "'self'"
    assert "unsafe" not in csp.split("style-src")[0]
    assert len(csrf_of(page.text)) >= 16 and "<script" not in page.text
    assert '<input type="checkbox" name="scope" value="links:read"' in page.text
    forged = await world.http.post(
        "/oauth/consent",
        data={"request": handle, "csrf": "x" * 32, "key": world.key, "scope": ["links:read"]},
    )
    assert forged.status_code == 403 and "location" not in forged.headers


async def test_wrong_keys_are_limited_per_address_then_even_the_right_one(world: World) -> None:
    client_id = await register(world)
    _, challenge = pkce()
    handle, page = await consent(world, authorize_url(client_id, challenge))
    for _ in range(5):
        wrong = await answer(world, handle, page, "clypt_wrong", ["links:read"])
        assert wrong.status_code == 401
        assert "clypt_wrong" not in wrong.text
    blocked = await answer(world, handle, page, world.key, ["links:read"])
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


async def test_the_authorization_endpoints_are_limited_per_address(
    service: ClyptService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#21 item 3: /authorize, /token, /revoke, consent and sign-in take 60 requests a minute
    from one client address, /register 20 an hour; over either, 429 `slow_down` with
    Retry-After. Another address is never held back."""
    now = [1_773_144_000.0]  # 12:00:00 UTC
    monkeypatch.setattr(
        oauth, "RateLimiter", lambda limit, window: RateLimiter(limit, window, lambda: now[0])
    )
    settings = Settings(base_url=BASE_URL, trusted_proxies="127.0.0.1/32")
    app = create_app(service, settings, ClickRecorder(service.store), store=service.store)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        grant = {"grant_type": "authorization_code", "code": "x", "client_id": "nobody"}

        async def token(ip: str) -> httpx2.Response:
            return await http.post("/token", data=grant, headers={"x-forwarded-for": ip})

        def limited(r: httpx2.Response) -> bool:
            if r.status_code != 429:
                return False
            assert r.json()["error"] == "slow_down" and int(r.headers["retry-after"]) >= 1
            return True

        assert [limited(await token("198.51.100.1")) for _ in range(60)] == [False] * 60
        assert limited(await token("198.51.100.1"))
        for path in ("/authorize?client_id=nobody", "/oauth/signin"):  # one budget
            assert limited(await http.get(path, headers={"x-forwarded-for": "198.51.100.1"}))
        assert not limited(await token("198.51.100.2"))
        now[0] += 60
        assert not limited(await token("198.51.100.1"))

        body = {"client_name": "Spam", "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none"}  # fmt: skip

        async def register_from(ip: str) -> httpx2.Response:
            return await http.post("/register", json=body, headers={"x-forwarded-for": ip})

        for _ in range(20):
            assert (await register_from("203.0.113.9")).status_code == 201
        assert limited(await register_from("203.0.113.9"))
        now[0] += 60  # a new minute, the same hour
        assert limited(await register_from("203.0.113.9"))
        assert (await register_from("203.0.113.10")).status_code == 201


async def test_scopes_are_capped_by_the_key_and_approving_twice_makes_one_grant(
    world: World,
) -> None:
    reader = (
        await world.service.create_api_key(
            "default", ApiKeyCreate(name="r", scopes=[Scope.LINKS_READ])
        )
    ).secret
    client_id = await register(world)
    verifier, challenge = pkce()
    handle, page = await consent(world, authorize_url(client_id, challenge))
    done = await answer(world, handle, page, reader, ["links:read", "links:write"])
    assert done.status_code == 303
    again = await answer(world, handle, page, reader, ["links:read"])
    assert again.status_code in (404, 409) and "location" not in again.headers
    code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
    got = (await exchange(world, client_id, code, verifier)).json()
    assert got["scope"] == "links:read"
    await code_for(world, client_id, challenge, ["links:read"])  # the same app, approved again
    apps = await world.http.get("/api/v1/apps", headers={"authorization": f"Bearer {world.key}"})
    assert apps.status_code == 200
    assert [a["clientId"] for a in apps.json()["apps"]] == [client_id]


async def test_apps_api_lists_and_revokes_within_the_workspace(world: World) -> None:
    _, body = await tokens(world)
    auth = {"authorization": f"Bearer {world.key}"}
    (app,) = (await world.http.get("/api/v1/apps", headers=auth)).json()["apps"]
    assert app["clientName"] == "Test App" and app["redirectHost"] == "127.0.0.1"
    assert app["scopes"] == ["links:read"] and app["status"] == "active"
    other = (
        await world.service.create_api_key("other", ApiKeyCreate(name="o", scopes=sorted(Scope)))
    ).secret
    foreign = await world.http.delete(
        f"/api/v1/apps/{app['id']}", headers={"authorization": f"Bearer {other}"}
    )
    assert foreign.status_code == 404
    gone = await world.http.delete(f"/api/v1/apps/{app['id']}", headers=auth)
    assert gone.status_code == 204
    assert await mcp_status(world, body["access_token"]) == 401
    listed = (await world.http.get("/api/v1/apps", headers=auth)).json()["apps"]
    assert listed[0]["status"] == "revoked"


async def test_revoking_the_approving_key_revokes_its_grants(world: World) -> None:
    approver = await world.service.create_api_key(
        "default", ApiKeyCreate(name="a", scopes=[Scope.LINKS_READ])
    )
    client_id = await register(world)
    verifier, challenge = pkce()
    code = await code_for(world, client_id, challenge, key=approver.secret)
    body = (await exchange(world, client_id, code, verifier)).json()
    auth = {"authorization": f"Bearer {world.key}"}
    (app,) = (await world.http.get("/api/v1/apps", headers=auth)).json()["apps"]
    assert app["status"] == "active"
    provider = world.app.state.oauth
    assert provider is not None
    assert await provider.load_access_token(body["access_token"]) is not None
    await world.service.revoke_api_key(None, approver.id)
    assert await mcp_status(world, body["access_token"]) == 401
    (app,) = (await world.http.get("/api/v1/apps", headers=auth)).json()["apps"]
    assert app["status"] == "revoked"


async def test_a_signin_link_pasted_in_approves_once(world: World) -> None:
    provider = world.app.state.oauth
    assert provider is not None
    link = await create_signin_link(provider.store, BASE_URL, "team", ["links:read"])
    client_id = await register(world)
    _, challenge = pkce()
    handle, page = await consent(world, authorize_url(client_id, challenge))
    done = await answer(world, handle, page, link, ["links:read", "links:write"])
    assert done.status_code == 303, done.text
    handle, page = await consent(world, authorize_url(client_id, challenge))
    reused = await answer(world, handle, page, link, ["links:read"])
    assert reused.status_code == 401
    grants = await provider.store.list_grants("team")
    assert [g.scopes for g in grants] == [["links:read"]]


async def test_tokens_codes_keys_and_signin_links_stay_out_of_logs_errors_and_the_store(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    provider = world.app.state.oauth
    assert provider is not None
    registered = await world.http.post(
        "/register",
        json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_post"},
    )
    client_secret = registered.json()["client_secret"]
    client_id = registered.json()["client_id"]
    verifier, challenge = pkce()
    code = await code_for(world, client_id, challenge)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    body = (await world.http.post("/token", data=data)).json()
    wrong_secret = await world.http.post("/token", data={**data, "client_secret": "nope"})
    assert wrong_secret.status_code == 401
    seen.append(wrong_secret.text)
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": body["refresh_token"],
        "client_id": client_id,
        "client_secret": client_secret,
    }
    assert (await world.http.post("/token", data=refresh)).status_code == 200
    seen.append((await world.http.post("/token", data=refresh)).text)  # reused
    seen.append((await world.http.post("/token", data=data)).text)  # the code again
    for token in (body["access_token"], body["access_token"] + "x"):
        reply = await world.http.post(
            "/mcp", json={}, headers={**MCP_HEADERS, "authorization": f"Bearer {token}"}
        )
        seen.append(reply.text + str(reply.headers))
    link = await create_signin_link(provider.store, BASE_URL, "default", ["links:read"])
    handle, page = await consent(world, authorize_url(client_id, challenge))
    seen.append((await answer(world, handle, page, world.key + "x", ["links:read"])).text)
    seen.append((await answer(world, handle, page, link, ["links:read"])).text)
    seen.append((await answer(world, handle, page, link, ["links:read"])).text)
    seen.append(
        (
            await world.http.get("/api/v1/apps", headers={"authorization": f"Bearer {world.key}"})
        ).text
    )
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(str(record.args) for record in caplog.records)
    blob = "\n".join(seen)
    secrets_ = [
        code,
        body["access_token"],
        body["refresh_token"],
        client_secret,
        world.key,
        link.split("token=")[1],
        verifier,
    ]
    for secret in secrets_:
        assert secret not in blob
    stored = repr(await dump_all(world.service.store))
    assert "clypt_oac_" not in stored and "clypt_oat_" not in stored
    for secret in secrets_:
        assert secret not in stored


async def test_an_old_link_on_a_now_reserved_path_keeps_redirecting_on_get(world: World) -> None:
    from clypt_mcp.models import LinkCreate, Principal
    from clypt_mcp.store.tables import SqlStore

    owner = Principal(workspace_id="default")
    await world.service.create_link(owner, LinkCreate(url="https://e.com/old", code="tokenx"))
    store = world.service.store
    assert isinstance(store, SqlStore)
    await store.db.run(
        lambda q: q.run("UPDATE links SET code = 'token' WHERE code = 'tokenx'"), write=True
    )
    old = await world.http.get("/token")
    assert (
        old.status_code in (301, 302, 307, 308) and old.headers["location"] == "https://e.com/old"
    )
    assert (await world.http.post("/token", data={})).status_code in (400, 401)


ITEM_5 = [
    *("authorize", "token", "register", "revoke", "oauth", "app", "internal", "robots.txt"),
    *("favicon.ico", "openapi.json", "robots", "favicon", "openapi", "sse", "mcp", "api"),
]


async def test_every_path_the_server_answers_is_a_reserved_code(world: World) -> None:
    from starlette.routing import Mount, Route

    from clypt_mcp.models import CODE_PATTERN, RESERVED_CODES, check_custom_code

    served = {p.strip("/").split("/")[0] for prefixes, _ in world.app.mcp_apps for p in prefixes}
    for route in world.app.main.routes:
        if isinstance(route, Route | Mount):
            served.add(route.path.strip("/").split("/")[0])
    served.discard("")
    assert {"authorize", "token", "register", "revoke", "oauth", "app", "sse"} <= served
    could_be_codes = {s for s in served if re.match(CODE_PATTERN, s) and "{" not in s}
    assert could_be_codes <= RESERVED_CODES, could_be_codes - RESERVED_CODES
    for code in ITEM_5:
        for spelled in (code, code.upper(), code.capitalize()):
            with pytest.raises(ValueError, match=r"reserved|must be 3-64"):
                check_custom_code(spelled)
    refused = await world.http.post(
        "/api/v1/links",
        json={"url": "https://e.com/", "code": "Authorize"},
        headers={"authorization": f"Bearer {world.key}"},
    )
    assert refused.status_code == 422 and "reserved" in refused.text


async def test_housekeeping_drops_expired_codes_tokens_requests_and_links(world: World) -> None:
    provider = world.app.state.oauth
    assert provider is not None
    client_id, _ = await tokens(world)
    _, challenge = pkce()
    await consent(world, authorize_url(client_id, challenge))  # a pending request
    await create_signin_link(provider.store, BASE_URL, "default", ["links:read"])
    now = provider.now_us()
    assert await provider.store.purge(now) == 0  # everything is live
    assert await provider.store.purge(now + 61_000_000) == 1  # the 60-second code
    later = now + 31 * 86400 * 1_000_000  # past every lifetime, refresh tokens' included
    assert await provider.store.purge(later) == 4  # access, refresh, request, sign-in link
    assert await provider.store.purge(later) == 0
    assert len(await provider.store.list_grants("default")) == 1  # apps stay listed


async def test_denying_redirects_with_access_denied_and_grants_nothing(world: World) -> None:
    client_id = await register(world)
    _, challenge = pkce()
    handle, page = await consent(world, authorize_url(client_id, challenge))
    denied = await world.http.post(
        "/oauth/consent", data={"request": handle, "csrf": csrf_of(page.text), "action": "deny"}
    )
    assert denied.status_code == 303
    query = parse_qs(urlsplit(denied.headers["location"]).query)
    assert query == {"error": ["access_denied"], "state": ["s1"], "iss": [BASE_URL]}
    provider = world.app.state.oauth
    assert provider is not None
    assert await provider.store.list_grants(None) == []
    again = await answer(world, handle, page, world.key, ["links:read"])
    assert again.status_code == 404 and "location" not in again.headers
