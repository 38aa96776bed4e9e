"""The stdio server warns once, in its log, when no `serve` on its database answers at
CLYPT_BASE_URL, and stays quiet when one does; the check never holds up the handshake."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tests.http.live import free_port

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
DONE = "is served by clypt-mcp serve on this database"
WARNING = "WARNING clypt_mcp.reach: CLYPT_BASE_URL:"


def _env(home: Path, db: Path, base: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_STATE_HOME": str(home / "state"),
        "CLYPT_DATABASE_URL": f"sqlite:///{db}",
        "CLYPT_BASE_URL": base,
    }


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line.decode(errors="replace").rstrip("\n"))


def _stdio_log(env: dict[str, str], until: str, seconds: float) -> tuple[float, list[str]]:
    """Start the stdio server, time its answer to initialize, and collect its log until a
    line containing `until` (or `seconds`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "clypt_mcp", "--log-level", "DEBUG"],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin and proc.stdout and proc.stderr
    err: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(proc.stderr, err), daemon=True)
    reader.start()
    try:
        started = time.monotonic()
        proc.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        answered = time.monotonic() - started
        assert answer["id"] == 1 and "result" in answer
        log: list[str] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = err.get(timeout=0.1)
            except queue.Empty:
                continue
            log.append(line)
            if until in line:
                break
        time.sleep(0.3)  # anything logged right after
        while not err.empty():
            log.append(err.get())
        return answered, log
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        reader.join(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


@contextmanager
def _serve(env: dict[str, str], port: int) -> Iterator[None]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "clypt_mcp", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with httpx2.Client(base_url=env["CLYPT_BASE_URL"], timeout=5) as http:
            for _ in range(600):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx2.TransportError:
                    time.sleep(0.05)
            else:
                raise AssertionError("serve did not start")
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _make_link(env: dict[str, str], tmp_path: Path) -> None:
    csv = tmp_path / "links.csv"
    csv.write_text("url,code\nhttps://example.com/x,known\n")
    subprocess.run([sys.executable, "-m", "clypt_mcp", "links", "import", str(csv)],
                   env=env, capture_output=True, timeout=60, check=True)  # fmt: skip


def test_warns_once_when_nothing_serves_the_base_url(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    answered, log = _stdio_log(_env(tmp_path, tmp_path / "c.db", base), WARNING, 20)
    warnings = [line for line in log if line.startswith(WARNING)]
    assert len(warnings) == 1, log
    assert f"nothing answers at {base}" in warnings[0]
    assert "clypt-mcp serve" in warnings[0] and "CLYPT_API_URL" in warnings[0]
    assert answered < 10  # the handshake did not wait for the check (it starts a second later)


def test_quiet_when_serve_runs_at_the_base_url_on_the_same_database(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, tmp_path / "c.db", f"http://127.0.0.1:{port}")
    _make_link(env, tmp_path)
    with _serve(env, port):
        _, log = _stdio_log(env, DONE, 20)
    assert any(DONE in line for line in log), log
    assert not any(line.startswith(WARNING) for line in log), log


def test_warns_when_the_serve_at_the_base_url_uses_another_database(tmp_path: Path) -> None:
    port = free_port()
    ours = _env(tmp_path, tmp_path / "ours.db", f"http://127.0.0.1:{port}")
    _make_link(ours, tmp_path)
    theirs = _env(tmp_path, tmp_path / "theirs.db", f"http://127.0.0.1:{port}")
    with _serve(theirs, port):
        _, log = _stdio_log(ours, WARNING, 20)
    warnings = [line for line in log if line.startswith(WARNING)]
    assert len(warnings) == 1 and "another database" in warnings[0], log
