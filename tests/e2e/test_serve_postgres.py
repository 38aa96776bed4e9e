"""Three real `clypt-mcp serve` processes on one PostgreSQL database: what must be exact across
processes is. Runs when CLYPT_TEST_DATABASE_URL names a server (CI always sets it).

- 300 concurrent creates of one custom code, spread over the three: one 201, 299 409s;
- a link with `max_clicks=100` visited 1,000 times across the three: exactly 100 redirects,
  the rest the expired page, and the store counts 100 redirects and 100 clicks;
- a key's rate limit, hit across the three: exactly the limit allowed, the rest 429 with
  Retry-After.

Loopback only; every wait is bounded (the whole file takes well under a minute).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx2
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ALL_SCOPES, ApiKeyCreate, LinkCreate, Principal
from clypt_mcp.store.postgres import PostgresStore
from tests.http.live import free_port

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.usefixtures("pg_server"),  # skipped, with how to get one, without a server
]

SERVERS = 3
LIMIT = 50  # CLYPT_RATE_LIMIT of the three, per key and hour
WINDOW = 3600
START_SECONDS = 45
Origins = list[str]


@pytest.fixture
def origins(pg_url: str, tmp_path: Path) -> Iterator[Origins]:
    """Three `serve` processes on one fresh schema; stopped with SIGTERM afterwards."""
    ports = [free_port() for _ in range(SERVERS)]
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for port in ports:
            env = {
                "PATH": os.environ["PATH"],
                "HOME": str(tmp_path),
                "CLYPT_DATABASE_URL": pg_url,
                "CLYPT_BASE_URL": f"http://127.0.0.1:{port}",
                "CLYPT_RATE_LIMIT": f"{LIMIT}/hour",
            }
            log = tmp_path / f"serve-{port}.log"
            with log.open("wb") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "clypt_mcp", "serve", "--port", str(port)],
                    env=env, stdout=subprocess.DEVNULL, stderr=err,
                )  # fmt: skip
            procs.append((proc, log))
        origins = [f"http://127.0.0.1:{port}" for port in ports]
        _wait_until_healthy(origins, procs)
        yield origins
    finally:
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, log in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(f"serve did not stop on SIGTERM:\n{log.read_text()}") from None
            assert "Traceback" not in log.read_text(), log.read_text()


def _wait_until_healthy(
    origins: Origins, procs: list[tuple[subprocess.Popen[bytes], Path]]
) -> None:
    deadline = time.monotonic() + START_SECONDS
    waiting = set(origins)
    with httpx2.Client(timeout=2) as http:
        while waiting:
            for (proc, log), origin in zip(procs, origins, strict=True):
                if proc.poll() is not None:
                    raise AssertionError(f"serve exited at start:\n{log.read_text()}")
                if origin not in waiting:
                    continue
                try:
                    if http.get(f"{origin}/healthz").status_code == 200:
                        waiting.discard(origin)
                except httpx2.TransportError:
                    pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not start within {START_SECONDS} s: {waiting}")
            time.sleep(0.05)


@pytest.fixture
async def service(pg_url: str) -> AsyncIterator[ClyptService]:
    """The same database, from the test's side."""
    store = PostgresStore(pg_url, max_size=2)
    await store.open()
    try:
        yield ClyptService(store, base_url="http://127.0.0.1")
    finally:
        await store.close()


BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


async def _spread(
    origins: Origins, calls: list[tuple[str, str, str | None, object]]
) -> list[httpx2.Response]:
    """Send `(method, path, key, json)` calls at once, call i to server i % 3."""
    answers: list[httpx2.Response | None] = [None] * len(calls)
    limits = httpx2.Limits(max_connections=100)
    clients = [
        httpx2.AsyncClient(base_url=o, timeout=30, limits=limits, follow_redirects=False)
        for o in origins
    ]
    try:

        async def one(i: int) -> None:
            method, path, key, body = calls[i]
            # a browser's agent: crawlers never spend a single-use link (#21)
            headers = {"user-agent": BROWSER}
            if key:
                headers["authorization"] = f"Bearer {key}"
            client = clients[i % len(clients)]
            answers[i] = await client.request(method, path, headers=headers, json=body)

        async with anyio.create_task_group() as tg:
            for i in range(len(calls)):
                tg.start_soon(one, i)
    finally:
        for client in clients:
            await client.aclose()
    return [a for a in answers if a is not None]


async def test_three_servers_on_one_database_stay_exact(
    origins: Origins, service: ClyptService
) -> None:
    keys = [
        (await service.create_api_key("default", ApiKeyCreate(name=f"k{i}"))).secret
        for i in range(10)
    ]
    owner = Principal(workspace_id="default", scopes=ALL_SCOPES)
    link = await service.create_link(
        owner, LinkCreate(url="https://example.com/hundred", code="hundred", max_clicks=100)
    )

    # (a) one custom code, 300 creators over three processes (30 per key, under the limit)
    body = {"url": "https://example.com/race", "code": "race"}
    answers = await _spread(
        origins, [("POST", "/api/v1/links", keys[i % 10], body) for i in range(300)]
    )
    assert Counter(r.status_code for r in answers) == {201: 1, 409: 299}
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"code_taken"}

    # (b) 1,000 visits of a link that allows 100
    answers = await _spread(origins, [("GET", "/hundred", None, None)] * 1000)
    assert Counter(r.status_code for r in answers) == {302: 100, 410: 900}
    assert {r.headers["location"] for r in answers if r.status_code == 302} == {
        "https://example.com/hundred"
    }
    stored = await service.store.get_link(None, code="hundred")
    assert stored is not None and stored.redirects == 100
    for _ in range(100):  # each process writes its clicks within a quarter second
        if await service.store.count_clicks("default", link.id, None) == 100:
            break
        await anyio.sleep(0.1)
    assert await service.store.count_clicks("default", link.id, None) == 100

    # (c) one key's limit, drawn on through all three. The servers keep real time, so the top
    # of the hour may fall inside the burst: then each window is exact on its own (the
    # X-RateLimit-Reset of an answer names its window), with no waiting for a quiet moment.
    other = (await service.create_api_key("other", ApiKeyCreate(name="limited"))).secret
    answers = await _spread(origins, [("GET", "/api/v1/me", other, None)] * (3 * LIMIT))
    windows: dict[str, list[httpx2.Response]] = {}
    for r in answers:
        windows.setdefault(r.headers["X-RateLimit-Reset"], []).append(r)
    assert 1 <= len(windows) <= 2
    for window in windows.values():
        allowed = [r for r in window if r.status_code == 200]
        refused = [r for r in window if r.status_code == 429]
        assert len(allowed) == min(LIMIT, len(window))
        assert len(refused) == len(window) - len(allowed)
        remaining = sorted(int(r.headers["X-RateLimit-Remaining"]) for r in allowed)
        assert remaining == list(range(LIMIT - len(allowed), LIMIT))
        for r in refused:
            assert r.json()["code"] == "rate_limited"
            assert 1 <= int(r.headers["Retry-After"]) <= WINDOW
            assert r.headers["X-RateLimit-Remaining"] == "0"
    assert {r.headers["X-RateLimit-Limit"] for r in answers} == {str(LIMIT)}


@pytest.mark.serial  # a wall-clock bound
async def test_a_change_on_one_server_reaches_the_others_within_a_second(
    origins: Origins, service: ClyptService
) -> None:
    """#11: disable over REST on server 0: its next redirect is 410; servers 1 and 2, which
    have the link cached, answer 410 within 1 s."""
    key = (await service.create_api_key("default", ApiKeyCreate(name="editor"))).secret
    owner = Principal(workspace_id="default", scopes=ALL_SCOPES)
    link = await service.create_link(owner, LinkCreate(url="https://example.com/x", code="flip"))
    headers = {"user-agent": BROWSER}
    async with httpx2.AsyncClient(timeout=10, follow_redirects=False) as http:
        for origin in origins:  # every server has looked the link up (and cached it)
            assert (await http.get(f"{origin}/flip", headers=headers)).status_code == 302
        patched = await http.patch(
            f"{origins[0]}/api/v1/links/{link.id}",
            headers={**headers, "authorization": f"Bearer {key}"},
            json={"disabled": True},
        )
        assert patched.status_code == 200
        changed = time.monotonic()
        assert (await http.get(f"{origins[0]}/flip", headers=headers)).status_code == 410
        pending = set(origins[1:])
        while pending:
            for origin in list(pending):
                if (await http.get(f"{origin}/flip", headers=headers)).status_code == 410:
                    pending.discard(origin)
            assert time.monotonic() - changed < 1.0, pending
            await anyio.sleep(0.02)
