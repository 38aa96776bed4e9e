"""`run_server` as a real process: 1,000 redirects, SIGTERM, and every click is in the store."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import AnalyticsQuery, Link, LinkCreate, Principal
from clypt_mcp.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

OWNER = Principal(workspace_id="default")
Visit = tuple[str, str, str | None]  # user agent, address, referrer
AGENTS = {  # user agent -> (device, browser, os)
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.2 Mobile/15E148 Safari/604.1": ("mobile", "Mobile Safari", "iOS"),
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36": ("mobile", "Chrome Mobile", "Android"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0": (
        "desktop",
        "Firefox",
        "Windows",
    ),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15": ("desktop", "Safari", "Mac OS X"),
}
ADDRESSES = {"81.2.69.160": "GB", "8.8.8.8": "US", "5.9.0.1": "DE", "133.242.0.1": "JP"}
REFERRERS = {
    "https://news.example.org/item?id=7": "news.example.org",
    "https://mail.example.com/inbox": "mail.example.com",
    None: "unknown",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(db: Path, workers: int) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`run_server` in a child process with loopback as the trusted proxy."""
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(db.parent),
        "CLYPT_DATABASE_URL": f"sqlite:///{db}",
        "CLYPT_BASE_URL": f"http://127.0.0.1:{port}",
        "CLYPT_TRUSTED_PROXIES": "127.0.0.1",
        # four addresses send every visit here: keep them all clicks, not `suspect` (#21)
        "CLYPT_CLICK_RATE": "1000000/minute",
    }
    code = (
        "from clypt_mcp.config import Settings\n"
        "from clypt_mcp.http.serve import run_server\n"
        f"run_server(Settings(), '127.0.0.1', {port}, {workers}, log_level='warning')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.05)
        else:
            raise AssertionError("the server did not answer within 30 s")
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the server did not stop within 30 s of SIGTERM") from None
    assert code in (0, -signal.SIGTERM), proc.stderr.read().decode() if proc.stderr else code


async def make_links(db: Path) -> tuple[Link, Link]:
    """A plain link, and one that allows 17 redirects."""
    store = SqliteStore(db)
    await store.open()
    try:
        service = ClyptService(store)
        plain = await service.create_link(
            OWNER, LinkCreate(url="https://example.com/launch", utm_source="e2e")
        )
        limited = await service.create_link(
            OWNER, LinkCreate(url="https://example.com/few", max_clicks=17)
        )
        return plain, limited
    finally:
        await store.close()


async def rush(origin: str, code: str, visitors: int = 50) -> Counter[int]:
    """`visitors` clients, each on its own connection, ask for `code` at the same moment."""
    statuses: Counter[int] = Counter()
    ready = anyio.Event()
    waiting = [0]

    async def visitor(http: httpx2.AsyncClient) -> None:
        await http.get("/healthz")  # open the connection first
        waiting[0] += 1
        if waiting[0] == visitors:
            ready.set()
        await ready.wait()
        response = await http.get(f"/{code}", headers={"user-agent": next(iter(AGENTS))})
        statuses[response.status_code] += 1

    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx2.AsyncClient(base_url=origin, timeout=10))
            for _ in range(visitors)
        ]
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for http in clients:
                    tg.start_soon(visitor, http)
    return statuses


async def drive(origin: str, code: str, total: int, concurrency: int = 16) -> Counter[Visit]:
    """`total` redirects from `concurrency` clients; what was sent, counted."""
    agents, addresses, referrers = list(AGENTS), list(ADDRESSES), list(REFERRERS)
    sent: Counter[Visit] = Counter()
    limits = httpx2.Limits(max_connections=concurrency)

    async def client(worker: int, http: httpx2.AsyncClient) -> None:
        for i in range(worker, total, concurrency):
            ua = agents[i % len(agents)]
            ip = addresses[(i // 3) % len(addresses)]
            referer = referrers[i % len(referrers)]
            headers = {"user-agent": ua, "x-forwarded-for": f"{ip}, 127.0.0.1"}
            if referer:
                headers["referer"] = referer
            response = await http.get(f"/{code}", headers=headers)
            assert response.status_code == 302, response.text
            assert response.headers["location"] == "https://example.com/launch?utm_source=e2e"
            sent[(ua, ip, referer)] += 1

    async with httpx2.AsyncClient(base_url=origin, limits=limits, timeout=10) as http:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for worker in range(concurrency):
                    tg.start_soon(client, worker, http)
    return sent


def expected(sent: Counter[Visit], part: str) -> dict[str, int]:
    out: Counter[str] = Counter()
    for (ua, ip, referer), n in sent.items():
        device, browser, os_family = AGENTS[ua]
        key = {
            "devices": device,
            "browsers": browser,
            "os": os_family,
            "countries": ADDRESSES[ip],
            "referrers": REFERRERS[referer],
        }[part]
        out[key] += n
    return dict(out)


@pytest.mark.parametrize(("workers", "total"), [(1, 1000), (2, 400)])
async def test_every_redirect_is_a_click_after_a_clean_sigterm(
    tmp_path: Path, workers: int, total: int
) -> None:
    db = tmp_path / "clypt.db"
    link, limited = await make_links(db)
    with server(db, workers) as (proc, origin):
        sent = await drive(origin, link.code, total)
        statuses = await rush(origin, limited.code)
        stop(proc)
    assert sum(sent.values()) == total
    assert statuses == {302: 17, 410: 33}  # exact, even across worker processes

    store = SqliteStore(db)
    await store.open()
    try:
        service = ClyptService(store)
        assert (await service.get_link(OWNER, link.code)).clicks == total
        assert (await service.get_link(OWNER, limited.code)).clicks == 17
        report = await service.get_analytics(
            OWNER, AnalyticsQuery(link=link.code, period="all", include_bots=True)
        )
    finally:
        await store.close()
    assert report.total_clicks == total
    for part in ("devices", "browsers", "os", "countries", "referrers"):
        got = {c.key: c.clicks for c in getattr(report, part)}
        assert got == expected(sent, part), part
    assert report.unique_visitors == len({(ua, ip) for ua, ip, _ in sent})


@pytest.mark.serial  # a wall-clock bound
async def test_a_stdio_server_s_change_reaches_serve_s_redirects_within_a_second(
    tmp_path: Path,
) -> None:
    """#11: `serve` and a stdio MCP server on one SQLite file; update_link over stdio."""
    from mcp import Client

    from tests.e2e.test_stdio import ok, server_params

    db = tmp_path / "clypt.db"
    link, _ = await make_links(db)
    browser = {"user-agent": next(iter(AGENTS))}
    with server(db, 1) as (proc, origin):
        async with httpx2.AsyncClient(base_url=origin, timeout=10) as http:
            first = await http.get(f"/{link.code}", headers=browser)
            assert first.headers["location"] == "https://example.com/launch?utm_source=e2e"
            with anyio.fail_after(60):
                async with Client(server_params(db), read_timeout_seconds=30) as mcp:
                    ok(
                        await mcp.call_tool(
                            "update_link",
                            {"link": link.code, "url": "https://example.com/changed"},
                        )
                    )
                    changed = time.monotonic()
                    while True:
                        answer = await http.get(f"/{link.code}", headers=browser)
                        if answer.headers["location"].startswith("https://example.com/changed"):
                            break
                        assert time.monotonic() - changed < 1.0
                        await anyio.sleep(0.02)
        stop(proc)
