"""Issue 21 against a real `clypt-mcp serve` process on 127.0.0.1: a burst of password guesses,
one client holding sockets open, one key holding /sse streams and opening MCP sessions in a
loop, and one rate limit per key over REST and MCP.

"Another client" connects from 127.0.0.2 (all of 127/8 is loopback). Each test fails with its
protection switched off: without the try reservation more guesses are checked, without the
per-client connection cap or the per-key stream cap the other client gets 503s, without the
session cap the key's first session stays open, without the MCP rate limit the tool call runs.
"""

from __future__ import annotations

import json
import re
import resource
import socket
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.http.live import make_key, start_serve, start_serve_with

ACCEPT = "application/json, text/event-stream"
RIGHT = "open sesame"

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"

# serial: a thousand sockets and timed bursts against one serve
pytestmark = pytest.mark.serial


@pytest.fixture(autouse=True, scope="module")
def enough_files() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Serve:
    def __init__(self, tmp: Path, **env: str) -> None:
        self.db = tmp / "clypt.db"
        self.key = make_key(self.db)
        self.other_key = make_key(self.db)
        self.proc, self.origin = start_serve(self.db, **env)
        self.port = int(self.origin.rsplit(":", 1)[1])

    def client(self, key: str | None = None, local: str = "127.0.0.2") -> httpx2.Client:
        """A client from another loopback address than the tests' sockets."""
        headers = {"authorization": f"Bearer {key}"} if key else {}
        transport = httpx2.HTTPTransport(local_address=local)
        return httpx2.Client(
            base_url=self.origin,
            headers=headers,
            transport=transport,
            timeout=10,
        )

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert found is not None
        return int(found.group(1)) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        log = self.db.with_name(f"{self.db.name}.serve-{self.port}.log").read_text()
        assert "Traceback" not in log, log[-3000:]


@pytest.fixture
def serve(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Serve]:
    env: dict[str, str] = getattr(request, "param", {})
    served = Serve(tmp_path, **env)
    try:
        yield served
    finally:
        served.stop()


def mcp_post(
    http: httpx2.Client, body: dict[str, Any], session: str | None = None
) -> httpx2.Response:
    headers = {"accept": ACCEPT}
    if session:
        headers["mcp-session-id"] = session
    return http.post("/mcp", json=body, headers=headers)


def initialize(http: httpx2.Client) -> httpx2.Response:
    return mcp_post(http, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "abuse-test", "version": "1"}}})  # fmt: skip


def rpc_result(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message of a JSON or an event-stream answer."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                data: dict[str, Any] = json.loads(line[5:])
                return data
        raise AssertionError(response.text)
    found: dict[str, Any] = response.json()
    return found


def session(http: httpx2.Client) -> str:
    r = initialize(http)
    assert r.status_code == 200, r.text
    sid = r.headers["mcp-session-id"]
    done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert mcp_post(http, done, sid).status_code == 202
    return sid


def tool_call(http: httpx2.Client, sid: str, name: str, args: dict[str, Any]) -> httpx2.Response:
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": name, "arguments": args}}  # fmt: skip
    return mcp_post(http, body, sid)


def p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100)[98] if len(times) > 1 else times[0]


def other_client_works(serve: Serve, code: str) -> list[float]:
    """Redirects, REST calls and MCP calls of another client and key: their times; each must
    succeed."""
    times: list[float] = []
    with serve.client(serve.other_key) as http:
        sid = session(http)
        for _ in range(20):
            t = time.perf_counter()
            assert http.get(f"/{code}").status_code == 302
            assert http.get("/api/v1/links").status_code == 200
            r = tool_call(http, sid, "get_link", {"link": code})
            assert r.status_code == 200 and not rpc_result(r)["result"].get("isError"), r.text
            times.append(time.perf_counter() - t)
    return times


def make_link(serve: Serve, **fields: Any) -> str:
    with serve.client(serve.key) as http:
        r = http.post("/api/v1/links", json={"url": "https://example.com/", **fields})
        assert r.status_code == 201, r.text
        code: str = r.json()["code"]
        return code


# --- connections --------------------------------------------------------------------------


def test_one_client_holding_1000_idle_sockets_costs_another_nothing(serve: Serve) -> None:
    code = make_link(serve)
    held: list[socket.socket] = []
    try:
        for _ in range(1000):
            held.append(socket.create_connection(("127.0.0.1", serve.port), timeout=5))
        time.sleep(0.2)
        times = other_client_works(serve, code)
        assert p99(times) < 1.0, times
        # the holder's sockets beyond its share were answered 503 and closed at once
        held[-1].settimeout(5)
        assert held[-1].recv(200).startswith(b"HTTP/1.1 503 ")
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("serve", [{"CLYPT_TRUSTED_PROXIES": "127.0.0.1/32"}], indirect=True)
def test_999_sse_streams_of_one_key_cost_another_key_nothing(serve: Serve) -> None:
    # through a trusted proxy (127.0.0.1): connections are not counted per address, so the
    # per-key stream cap is what holds
    code = make_link(serve)
    request = (
        f"GET /sse HTTP/1.1\r\nHost: 127.0.0.1:{serve.port}\r\n"
        f"Authorization: Bearer {serve.key}\r\nAccept: text/event-stream\r\n\r\n"
    )
    held: list[socket.socket] = []
    answers: Counter[int] = Counter()
    try:
        for _ in range(999):
            sock = socket.create_connection(("127.0.0.1", serve.port), timeout=10)
            sock.sendall(request.encode())
            held.append(sock)
        for sock in held:
            head = sock.recv(64)
            answers[int(head.split()[1])] += 1
        assert answers == {200: 100, 429: 899}
        times = other_client_works(serve, code)
        assert p99(times) < 1.0, times
    finally:
        for sock in held:
            sock.close()


def test_a_key_opening_sessions_in_a_loop_is_capped(serve: Serve) -> None:
    with serve.client(serve.key) as http:
        first = session(http)
        for _ in range(104):
            session(http)
        # the key's longest idle session was closed to make room
        assert tool_call(http, first, "list_tags", {}).status_code == 404
    with serve.client(serve.other_key) as http:
        t = time.perf_counter()
        sid = session(http)
        assert time.perf_counter() - t < 1.0
        r = tool_call(http, sid, "list_tags", {})
        assert r.status_code == 200


# --- one rate limit per key ---------------------------------------------------------------


@pytest.mark.parametrize("serve", [{"CLYPT_RATE_LIMIT": "5/hour"}], indirect=True)
def test_a_key_over_its_limit_on_rest_gets_429_on_mcp_tool_calls(serve: Serve) -> None:
    with serve.client(serve.key) as http:
        sid = session(http)  # opening a session is not a call
        for _ in range(5):
            assert http.get("/api/v1/links").status_code == 200
        assert http.get("/api/v1/links").status_code == 429
        r = tool_call(http, sid, "create_link", {"url": "https://example.com/over"})
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["x-ratelimit-remaining"] == "0"
        assert "rate limit" in r.json()["error"]["message"]
        assert http.get("/api/v1/links?q=over").status_code == 429
    with serve.client(serve.other_key) as http:
        sid = session(http)
        r = tool_call(http, sid, "list_links", {"query": "over"})
        assert r.status_code == 200 and "example.com/over" not in r.text  # never ran
        for _ in range(4):
            assert tool_call(http, sid, "list_tags", {}).status_code == 200
        assert http.get("/api/v1/links").status_code == 429  # tool calls spent the budget


# --- password burst -----------------------------------------------------------------------


@pytest.mark.parametrize("serve", [{"CLYPT_TRUSTED_PROXIES": "127.0.0.1/32"}], indirect=True)
def test_a_burst_of_guesses_at_serve_checks_only_the_allowed_and_stays_small(
    serve: Serve,
) -> None:
    code = make_link(serve, password=RIGHT)
    while time.time() % 60 > 30:  # the three bursts fall in one per-client minute
        time.sleep(1)
    with serve.client(local="127.0.0.1") as http:  # the trusted proxy, telling each address
        # a browser's agent: other agents get the neutral page of a password link (#21)
        page = http.get(f"/{code}", headers={"user-agent": BROWSER})
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        form = {"csrf": csrf.group(1), "password": "guess"}

        def one(ip: str) -> str:
            r = http.post(f"/{code}", data=form, headers={"x-forwarded-for": ip})
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) >= 1
                return "limited"
            return "checked" if r.status_code == 403 else str(r.status_code)

        def burst(ips: list[str]) -> Counter[str]:
            with ThreadPoolExecutor(32) as pool:
                return Counter(pool.map(one, ips))

        peak = serve.rss_mb()
        assert burst(["81.2.69.160"] * 100) == {"checked": 5, "limited": 95}
        peak = max(peak, serve.rss_mb())
        assert burst([f"2001:db8:1:2::{i:x}" for i in range(1, 101)]) == {
            "checked": 5,
            "limited": 95,
        }
        spread = burst([f"203.0.113.{i % 50 + 1}" for i in range(100)])
        assert spread == {"checked": 20, "limited": 80}
        peak = max(peak, serve.rss_mb())
        assert peak < 250, peak


@pytest.mark.parametrize("serve", [{"CLYPT_RATE_LIMIT": "5/hour"}], indirect=True)
def test_tool_calls_over_sse_draw_on_the_same_limit(serve: Serve) -> None:
    def rpc(method: str, params: dict[str, Any], id: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        return body if id is None else {**body, "id": id}

    with serve.client(serve.key) as http, http.stream("GET", "/sse") as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        endpoint = next(line[5:].strip() for line in lines if line.startswith("data:"))
        assert endpoint.startswith("/messages/?session_id=")
        client = {"name": "abuse-test", "version": "1"}
        hello = rpc(
            "initialize",
            {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": client},
            1,
        )
        assert http.post(endpoint, json=hello).status_code == 202
        assert http.post(endpoint, json=rpc("notifications/initialized", {})).status_code == 202
        # a tool call over /messages spends one of the 5
        call = rpc("tools/call", {"name": "list_tags", "arguments": {}}, 2)
        sent = http.post(endpoint, json=call)
        assert sent.status_code == 202 and sent.headers["x-ratelimit-remaining"] == "4"
        for _ in range(4):
            assert http.get("/api/v1/links").status_code == 200
        assert http.get("/api/v1/links").status_code == 429
        # over the limit: the tool call is refused with Retry-After and never runs
        over = {"url": "https://example.com/over-sse"}
        make = rpc("tools/call", {"name": "create_link", "arguments": over}, 3)
        r = http.post(endpoint, json=make)
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert "rate limit" in r.json()["error"]["message"]
    with serve.client(serve.other_key) as http:
        found = http.get("/api/v1/links", params={"q": "over-sse"})
        assert found.status_code == 200 and found.json()["links"] == []


# --- DEBUG logs -----------------------------------------------------------------------------


def test_debug_logs_of_serve_hold_no_notes_titles_or_query_strings(tmp_path: Path) -> None:
    """#21 item 10 in a real process: `clypt-mcp --log-level DEBUG serve` installs the
    redacting filter (fails when `main` does not: the SDK logs whole tool results)."""
    db = tmp_path / "clypt.db"
    key = make_key(db)
    proc, origin = start_serve_with(db, ("--log-level", "DEBUG"), {})
    port = int(origin.rsplit(":", 1)[1])
    private = {
        "url": "https://example.com/p?token=qs-secret-4711",
        "title": "title-secret-4711",
        "notes": "notes-secret-4711",
    }
    try:
        transport = httpx2.HTTPTransport(local_address="127.0.0.2")
        headers = {"authorization": f"Bearer {key}"}
        with httpx2.Client(
            base_url=origin, headers=headers, transport=transport, timeout=10
        ) as http:
            sid = session(http)
            made = tool_call(http, sid, "create_link", private)
            assert made.status_code == 200 and not rpc_result(made)["result"].get("isError")
            code = rpc_result(made)["result"]["structuredContent"]["code"]
            shown = tool_call(http, sid, "get_link", {"link": code})
            assert "notes-secret-4711" in shown.text  # the result itself holds them
    finally:
        proc.terminate()
        proc.wait(30)
    text = db.with_name(f"{db.name}.serve-{port}.log").read_text(errors="replace")
    assert "DEBUG" in text and "withheld" in text, text[-2000:]
    for secret in ("qs-secret-4711", "title-secret-4711", "notes-secret-4711"):
        assert secret not in text, secret
