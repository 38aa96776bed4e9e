"""The real app on a free 127.0.0.1 port: under uvicorn in the test's event loop or in a thread,
or as a `clypt-mcp serve` process."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import httpx2
import uvicorn

from clypt_mcp.config import Settings
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import ClyptApp, create_app
from clypt_mcp.models import ALL_SCOPES, ApiKeyCreate
from clypt_mcp.store.sqlite import SqliteStore
from tests.conftest import BASE_URL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def steady_rate_window(app: ClyptApp) -> None:
    """Stop `app`'s rate-limit clock in the middle of the current window, so a test's few
    requests never straddle two windows (they are aligned to the epoch: a `2/minute` test that
    ran across a minute's end would see its count start again)."""
    limiter = app.state.limiter
    middle = time.time() // limiter.window * limiter.window + limiter.window / 2
    limiter.clock = lambda: middle


def _server(
    service: ClyptService, rate_limit: str, port: int | None = None
) -> tuple[uvicorn.Server, str]:
    """A uvicorn server of the whole app, as `serve` builds it (own click recorder, MCP)."""
    app = create_app(
        service,
        Settings(base_url=BASE_URL, rate_limit=rate_limit),
        store=service.store,
        clock=service.clock,
    )
    steady_rate_window(app)
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    return uvicorn.Server(config), f"http://127.0.0.1:{port}"


async def started(server: uvicorn.Server) -> None:
    """Return once `server` listens (uvicorn offers a flag, not an event)."""
    for _ in range(1000):
        if server.started:
            return
        await anyio.sleep(0.01)
    raise AssertionError("uvicorn did not start within 10 s")


@asynccontextmanager
async def serving(
    service: ClyptService, rate_limit: str = "1000/minute", port: int | None = None
) -> AsyncIterator[str]:
    """Serve in the current event loop; yields the origin."""
    server, origin = _server(service, rate_limit, port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await started(server)
        try:
            yield origin
        finally:
            server.should_exit = True


@contextmanager
def serving_in_thread(
    db_path: Path, rate_limit: str = "100000/minute"
) -> Iterator[tuple[str, str]]:
    """Serve from a thread with its own event loop and store, for synchronous clients.

    Yields the origin and the secret of a key with every scope.
    """
    ready = threading.Event()
    found: dict[str, object] = {}

    async def main() -> None:
        store = SqliteStore(db_path)
        await store.open()
        try:
            service = ClyptService(store, base_url=BASE_URL)
            key = await service.create_api_key(
                "default", ApiKeyCreate(name="fuzz", scopes=list(ALL_SCOPES))
            )
            server, origin = _server(service, rate_limit)
            found.update(server=server, origin=origin, key=key.secret)
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve)
                await started(server)
                ready.set()
        finally:
            await store.close()

    def run() -> None:
        try:
            anyio.run(main)
        except BaseException as exc:  # reported to the test thread
            found["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(15) or "error" in found:
        raise AssertionError(f"the server did not start: {found.get('error')!r}")
    server = found["server"]
    assert isinstance(server, uvicorn.Server)
    try:
        yield str(found["origin"]), str(found["key"])
    finally:
        server.should_exit = True
        thread.join(15)


def serve_env(db: Path) -> dict[str, str]:
    """The environment of a `clypt-mcp` process on the SQLite file `db` (HOME next to it)."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(db.parent),
        "CLYPT_DATABASE_URL": f"sqlite:///{db}",
    }


def make_key(db: Path, **env: str) -> str:
    """A key with every scope, made with `clypt-mcp keys create` (which also makes the file),
    with `CLYPT_*` settings from `env` (e.g. CLYPT_DATABASE_URL for another store)."""
    made = subprocess.run(
        [sys.executable, "-m", "clypt_mcp", "keys", "create", "--name", "test"],
        env=serve_env(db) | env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return made.stdout.strip()


def start_serve(db: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """`start_serve_workers` with one worker."""
    return start_serve_workers(db, 1, **env)


def start_serve_workers(db: Path, workers: int, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """`clypt-mcp serve` on `db` and a free port, with `CLYPT_*` settings from `env` (base URL:
    the origin, rate limit out of the way, unless given). Its log is `db` + `.serve-PORT.log`.
    Returns the process and its origin once /healthz answers."""
    return start_serve_with(db, (), env, workers)


def start_serve_with(
    db: Path, options: tuple[str, ...], env: dict[str, str], workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    """`start_serve` with `options` before `serve` (e.g. `--log-level DEBUG`)."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = {"CLYPT_BASE_URL": origin, "CLYPT_RATE_LIMIT": "1000000/minute"} | env
    log = db.with_name(f"{db.name}.serve-{port}.log")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "clypt_mcp", *options, "serve", "--port", str(port),
             "--workers", str(workers)],
            env=serve_env(db) | settings, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx2.TransportError):
            if httpx2.get(f"{origin}/healthz", timeout=2).status_code == 200:
                return proc, origin
        time.sleep(0.05)
    proc.kill()
    proc.wait(10)
    raise AssertionError(f"serve did not start: {log.read_text()[-2000:]}")
