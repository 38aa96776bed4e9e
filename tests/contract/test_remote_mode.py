"""What only remote mode shows: no database, a down server, retries on 429."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters

from clypt_mcp.backends.remote import RemoteBackend
from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import InsufficientScopeError, UnavailableError
from clypt_mcp.models import ALL_SCOPES, ApiKeyCreate, LinkCreate, LinkQuery, Principal, Scope
from tests.conftest import text
from tests.http.live import free_port, serving

pytestmark = pytest.mark.anyio


def _params(home: Path, url: str, key: str, timeout: str = "3") -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "clypt_mcp"],
        env={
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "CLYPT_API_URL": url,
            "CLYPT_API_KEY": key,
            "CLYPT_API_TIMEOUT": timeout,
        },
    )


async def test_remote_mode_works_and_touches_no_database_file(
    service: ClyptService, tmp_path: Path
) -> None:
    key = await service.create_api_key(
        "default", ApiKeyCreate(name="remote", scopes=[Scope.LINKS_WRITE, Scope.ANALYTICS_READ])
    )
    home = tmp_path / "home"
    home.mkdir()
    async with serving(service) as origin:
        with anyio.fail_after(60):
            async with Client(_params(home, origin, key.secret), read_timeout_seconds=30) as c:
                names = {t.name for t in (await c.list_tools()).tools}
                assert "create_link" in names and "get_analytics" in names
                assert "manage_tags" not in names  # the key has no tags scope
                made = await c.call_tool("create_link", {"url": "https://e.com/r", "code": "rem"})
                assert not made.is_error, text(made)
                assert made.structured_content is not None
                assert made.structured_content["short_url"] == "https://clypt.test/rem"
                taken = await c.call_tool("create_link", {"url": "https://e.com/x", "code": "rem"})
                assert text(taken) == "code 'rem' is taken — pick another or omit code"
    assert (
        await service.get_link(Principal(workspace_id="default"), "rem")
    ).url == "https://e.com/r"
    files = [p for p in home.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in (".db", ".db-wal", ".db-shm")], files


@pytest.mark.serial  # a wall-clock bound
async def test_a_stopped_server_gives_an_error_naming_the_url_and_the_server_recovers(
    service: ClyptService, tmp_path: Path
) -> None:
    key = await service.create_api_key("default", ApiKeyCreate(name="r", scopes=list(ALL_SCOPES)))
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    with anyio.fail_after(90):
        async with Client(_params(tmp_path, origin, key.secret), read_timeout_seconds=30) as c:
            started = time.monotonic()
            down = await c.call_tool("list_links", {})
            assert down.is_error
            assert origin in text(down) and "did not answer" in text(down)
            assert time.monotonic() - started < 3 + 2  # the configured timeout, plus slack
            async with serving(service, port=port):
                up = await c.call_tool("list_links", {})
                assert not up.is_error, text(up)


async def test_a_429_with_retry_after_is_retried_once_and_succeeds() -> None:
    calls: list[float] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return httpx2.Response(
                429,
                headers={"Retry-After": "1"},
                json={"error": "rate limit reached", "code": "rate_limited"},
            )
        return httpx2.Response(200, json={"links": [], "nextCursor": None, "total": 0})

    transport = httpx2.MockTransport(handler)
    async with httpx2.AsyncClient(transport=transport, base_url="http://api.test") as http:
        backend = RemoteBackend(http, "clypt_x")
        page = await backend.list_links(LinkQuery())
    assert page.total == 0
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.95


async def test_a_post_is_retried_only_with_one_idempotency_key() -> None:
    keys: list[str | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        keys.append(request.headers.get("idempotency-key"))
        if len(keys) == 1:
            return httpx2.Response(503, json={"error": "busy", "code": "unavailable"})
        return httpx2.Response(409, json={"error": "code 'x' is taken", "code": "code_taken"})

    async with httpx2.AsyncClient(
        transport=httpx2.MockTransport(handler), base_url="http://api.test"
    ) as http:
        backend = RemoteBackend(http, "clypt_x", backoff=0.01)
        with pytest.raises(Exception) as err:
            await backend.create_link(LinkCreate(url="https://e.com/x", code="xyz"))
    assert type(err.value).__name__ == "CodeTakenError"
    assert len(keys) == 2 and keys[0] is not None and keys[0] == keys[1]


async def test_remote_errors_come_back_as_the_same_domain_errors() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            403, json={"error": "this needs the 'tags:write' scope", "code": "insufficient_scope"}
        )

    async with httpx2.AsyncClient(
        transport=httpx2.MockTransport(handler), base_url="http://api.test"
    ) as http:
        with pytest.raises(InsufficientScopeError) as err:
            await RemoteBackend(http, "clypt_x").create_tag("x")
    assert err.value.message == "this needs the 'tags:write' scope"


async def test_garbage_from_the_api_is_unavailable_not_a_crash() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(502, text="<html>bad gateway</html>")

    async with httpx2.AsyncClient(
        transport=httpx2.MockTransport(handler), base_url="http://api.test"
    ) as http:
        with pytest.raises(UnavailableError) as err:
            await RemoteBackend(http, "clypt_x", backoff=0.01).list_tags()
    assert "HTTP 502" in err.value.message and "http://api.test" in err.value.message
