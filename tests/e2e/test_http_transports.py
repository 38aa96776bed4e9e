"""`clypt-mcp --transport streamable-http|sse` as a real process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "CLYPT_DATABASE_URL": f"sqlite:///{tmp_path / 'clypt.db'}",
    }


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    transport = request.param
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "clypt_mcp", "--transport", transport, "--port", str(port)],
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("server did not start")
        yield transport, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.parametrize("served", ["streamable-http"], indirect=True)
async def test_streamable_http_serves_the_tools_and_rejects_foreign_hosts(
    served: tuple[str, int],
) -> None:
    _, port = served
    url = f"http://127.0.0.1:{port}/mcp"
    with anyio.fail_after(30):
        for mode in ("auto", "legacy"):
            async with Client(url, mode=mode) as c:
                r = await c.call_tool("create_link", {"url": "https://example.com/http"})
                assert not r.is_error
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "t", "version": "0"}}}  # fmt: skip
        headers = {"accept": "application/json, text/event-stream", "host": "evil.example"}
        async with httpx2.AsyncClient() as http:
            bad = await http.post(url, json=init, headers=headers)
    assert bad.status_code == 421


@pytest.mark.parametrize("served", ["sse"], indirect=True)
async def test_sse_serves_the_tools(served: tuple[str, int]) -> None:
    _, port = served
    with anyio.fail_after(30):
        async with Client(sse_client(f"http://127.0.0.1:{port}/sse")) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            assert "create_link" in names
            r = await c.call_tool("list_links", {})
            assert not r.is_error


async def test_http_transport_refuses_a_public_bind_without_keys(tmp_path: Path) -> None:
    done = await anyio.run_process(
        [sys.executable, "-m", "clypt_mcp", "--transport", "sse", "--host", "0.0.0.0"],
        env=_env(tmp_path),
        check=False,
    )
    assert done.returncode == 2
    assert b"--host 0.0.0.0" in done.stderr and b"Traceback" not in done.stderr
