"""Remote mode's overhead: an MCP tool call over RemoteBackend vs the REST call it wraps.

Usage: .venv/bin/python bench/remote_latency.py [--calls 200]

Starts `clypt-mcp serve` on a free 127.0.0.1 port (temp SQLite), then, alternating call by
call so noise hits all alike, times (A) the raw REST request with httpx2, (B) the MCP tool
(`list_links`, `get_analytics`, `create_link`) executed by an MCP server whose backend is
RemoteBackend against the same API (`MCPServer.call_tool`: argument validation, the REST call,
parsing, the structured result), and, for information, (C) the same tool through an in-process
MCP client (initialize handshake, JSON on the wire, the client's own output-schema check).
Target: B's p50 within 3 ms of A's for each tool.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client

from clypt_mcp.backends.remote import RemoteBackend
from clypt_mcp.tools.server import build_server

TARGET_MS = 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": tmp.as_posix(),
        "CLYPT_DATABASE_URL": f"sqlite:///{tmp / 'clypt.db'}",
        "CLYPT_BASE_URL": "https://clypt.example",
        "CLYPT_RATE_LIMIT": "10000000/minute",
    }
    cli = [sys.executable, "-m", "clypt_mcp"]
    key = subprocess.run(
        [*cli, "keys", "create", "--name", "bench"], env=env, capture_output=True, text=True,
        check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{origin}/healthz", timeout=1).status_code == 200:
                return proc, origin, key
        except httpx2.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("serve did not start")


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await call()
    return (time.perf_counter() - t0) * 1000


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, origin, key = start_server(Path(tmp))
        try:
            return await measure(origin, key, args.calls)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


async def measure(origin: str, key: str, calls: int) -> int:
    auth = {"authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(base_url=origin, headers=auth, timeout=10) as rest, \
            httpx2.AsyncClient(base_url=origin, timeout=10) as http:  # fmt: skip
        backend = RemoteBackend(http, key)
        server = build_server(lambda: backend, await backend.connect())
        for i in range(50):
            await rest.post("/api/v1/links", json={"url": f"https://example.com/seed/{i}"},
                            headers={"idempotency-key": str(uuid.uuid4())})  # fmt: skip
        async with Client(server, mode="legacy") as mcp:
            Call = Callable[[], Awaitable[Any]]
            tools: dict[str, tuple[Call, dict[str, Any]]] = {
                "list_links": (
                    lambda: rest.get("/api/v1/links", params={"limit": 20}),
                    {"limit": 20},
                ),
                "get_analytics": (
                    lambda: rest.get("/api/v1/analytics", params={"period": "7d"}),
                    {"period": "7d"},
                ),
                "create_link": (
                    lambda: rest.post(
                        "/api/v1/links",
                        json={"url": "https://example.com/a"},
                        headers={"idempotency-key": str(uuid.uuid4())},
                    ),
                    {"url": "https://example.com/b"},
                ),
            }
            ok = True
            print(f"{calls} calls each, alternating; ms")
            print("| tool | A REST p50 | B MCP server, remote p50 | B−A | C via MCP client p50 |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for name, (raw, arguments) in tools.items():
                runs: list[Call] = [
                    raw,
                    lambda n=name, a=arguments: server.call_tool(n, a),  # type: ignore[misc]
                    lambda n=name, a=arguments: mcp.call_tool(n, a),  # type: ignore[misc]
                ]
                samples: list[list[float]] = [[], [], []]
                for _ in range(10):  # warm-up
                    for run in runs:
                        await run()
                for _ in range(calls):
                    for i, run in enumerate(runs):
                        samples[i].append(await timed(run))
                pa, pb, pc = (statistics.median(x) for x in samples)
                ok = ok and pb - pa <= TARGET_MS
                print(f"| {name} | {pa:.2f} | {pb:.2f} | {pb - pa:+.2f} | {pc:.2f} |")
    print("target (p50 within 3 ms):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
