"""`serve --workers 2` spreads connections that arrive together over both workers (issue #20).

With one shared listening socket, the worker whose event loop wakes first accepts every
connection already waiting, so a client that opens its keep-alive pool at once gets one worker
and the other idles. Each worker listening on a socket of its own (`SO_REUSEPORT`, Linux) lets
the kernel pick the worker per connection. Which process holds a connection is read from
/proc: the socket inodes in each worker's fd table against /proc/net/tcp.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx2
import pytest

from tests.http.live import start_serve_workers

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="workers listen on one socket each only on Linux (SO_REUSEPORT balances there)",
)

CONNECTIONS = 32
ESTABLISHED = "01"


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def served_inodes(port: int) -> set[int]:
    """Inodes of the established connections whose local end is `port` (the server's ends)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], int(fields[9])
        if state == ESTABLISHED and int(local.split(":")[1], 16) == port:
            found.add(inode)
    return found


def test_connections_opened_together_reach_both_workers(tmp_path: Path) -> None:
    proc, origin = start_serve_workers(tmp_path / "clypt.db", 2)
    port = int(origin.rsplit(":", 1)[1])
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while len(children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # both workers up: /healthz only proved one
        for _ in range(20):  # the second worker answers too once it listens
            httpx2.get(f"{origin}/healthz", timeout=5)
        for _ in range(CONNECTIONS):  # opened back to back, like a client's pool
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        for client in clients:  # each answered once, so each has been accepted by a worker
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for client in clients:
            assert client.recv(64).startswith(b"HTTP/1.1 200"), "a connection got no answer"
        ours = served_inodes(port)
        held = Counter[int]()
        for child in children(proc.pid):
            held[child] = len(socket_inodes(child) & ours)
        busy = {pid: n for pid, n in held.items() if n}
        assert sum(busy.values()) == CONNECTIONS, f"connections by worker pid: {held}"
        # With the kernel choosing by hash, fewer than 4 of 32 on one worker has odds of 3e-6.
        assert len(busy) == 2 and min(busy.values()) >= 4, f"connections by worker pid: {held}"
    finally:
        for client in clients:
            client.close()
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_taken_port_is_refused_with_the_reason(tmp_path: Path) -> None:
    """`SO_REUSEPORT` must not let a second server share a port another one listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "clypt_mcp", "serve", "--port", str(port), "--workers", "2"],
            env=os.environ | {"HOME": str(tmp_path), "CLYPT_DATABASE_URL": f"sqlite:///{tmp_path}/c.db"},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert run.returncode != 0
    assert f"--port {port}" in run.stderr and "in use" in run.stderr.lower(), run.stderr
    assert "Traceback" not in run.stderr
