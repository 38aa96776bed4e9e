"""Redirect throughput: `serve --workers 2` on PostgreSQL beside one worker (PostgreSQL, SQLite).

Usage: .venv/bin/python bench/workers_pg.py [--database-url URL] [--rounds N] [--duration S]
           [--warmup S] [--connections C] [--client auto|wrk|python]

Three real `clypt-mcp serve` processes run side by side on loopback, each on a fresh store
holding one link (`/bench`, with UTM parameters):

  S   sqlite: `clypt-mcp serve` on a fresh SQLite file, one uvicorn worker (the embedded default);
  P1  pg x1:  `clypt-mcp serve` (one worker) on a fresh database made on the PostgreSQL server
              that `--database-url` (default: CLYPT_TEST_DATABASE_URL) names;
  P2  pg x2:  `clypt-mcp serve --workers 2` on another fresh database there (both dropped after).

Issue #20 asks P2 >= 1.6 x P1 on a quiet machine; the report gives P2/P1 and P2/S.

Every redirect is the full path: the link looked up (cached for a second), the visitor parsed,
a click queued and written in batches by each worker's recorder. A load generator in its own
process drives one server at a time: `wrk` when installed, else a bounded asyncio keep-alive
client. Rounds rotate the order (S,P1,P2 / P1,P2,S / ...), so machine noise hits all alike; the
report gives medians. Afterwards all are stopped with SIGTERM and the clicks in each store are
counted against the redirects the load generator saw answered (a clean stop loses none).

Everything shares the machine: on a 2-core box the load generator, the workers and the
PostgreSQL server compete for the same two cores, so the figures are a floor, not a ceiling.
Exit status: 0 when both ran and no click was lost, 1 when clicks were lost, 2 when a run
failed. Only loopback; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio

# The link, the load generators and the probe are redirect_throughput.py's (this folder is on
# sys.path when a bench script runs); its `--client` mode is the Python fallback's child.
from redirect_throughput import (
    CODE,
    HOST,
    LOCATION,
    RunError,
    free_port,
    get_once,
    load_python,
    load_wrk,
    stop_group,
)


@dataclass
class Server:
    label: str
    database_url: str
    workers: int
    port: int
    proc: subprocess.Popen[bytes] | None = None
    rps: list[float] = field(default_factory=list)
    requests: int = 0

    def start(self, log: Path) -> None:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(log.parent),
            "CLYPT_DATABASE_URL": self.database_url,
            "CLYPT_BASE_URL": f"http://{HOST}:{self.port}",
        }
        argv = [sys.executable, "-m", "clypt_mcp", "serve", "--port", str(self.port)]
        argv += ["--workers", str(self.workers)]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        answered = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RunError(f"{self.label} exited at start:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(OSError, IndexError, ValueError):
                status, location = get_once(self.port)
                if status == 503:  # a worker still starting
                    time.sleep(0.1)
                    continue
                if status != 302 or location != LOCATION:
                    raise RunError(f"{self.label} answered {status} {location!r}")
                answered += 1
                if answered >= 2 * self.workers:  # probably every worker, but not certainly
                    self.requests += answered
                    return
                continue
            time.sleep(0.1)
        raise RunError(f"{self.label} did not answer within 60 s:\n{log.read_text()[-2000:]}")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM to the whole process group, wait (SIGKILL after `timeout`); the exit code."""
        return stop_group(self.proc, timeout)


# --- stores -------------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def make_link(database_url: str, sqlite_path: Path) -> None:
    from clypt_mcp.core.service import ClyptService
    from clypt_mcp.models import LinkCreate, Principal
    from clypt_mcp.store import open_store

    store = open_store(database_url, sqlite_path)
    await store.open()
    try:
        service = ClyptService(store, base_url="http://127.0.0.1:1")
        data = LinkCreate(
            url="https://example.com/landing?ref=bench",
            code=CODE,
            utm_source="newsletter",
            utm_medium="email",
        )
        await service.create_link(Principal(workspace_id="default"), data)
    finally:
        await store.close()


async def count_clicks(database_url: str, sqlite_path: Path) -> int:
    from clypt_mcp.store import open_store

    store = open_store(database_url, sqlite_path)
    await store.open()
    try:
        return await store.count_clicks("default", None, None)
    finally:
        await store.close()


def pg_settings(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        values = []
        for name in ("server_version", "fsync", "synchronous_commit", "max_connections"):
            row = conn.execute(f"SHOW {name}").fetchone()
            values.append(f"{name}={row[0] if row else '?'}")
    return ", ".join(values)


# --- the run ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("CLYPT_TEST_DATABASE_URL"))
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (5, at least 3)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run (8)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up each (3)")
    parser.add_argument("--connections", type=int, default=32, help="open connections (32)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith(("postgresql://", "postgres://")):
        parser.error("--database-url postgresql://… (or CLYPT_TEST_DATABASE_URL) is needed")
    if args.rounds < 3 or args.duration <= 0 or not 1 <= args.connections <= 1000:
        parser.error("--rounds >= 3, --duration > 0 and 1 <= --connections <= 1000")
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
    load = load_wrk if use_wrk else load_python

    import psycopg

    names = [f"clypt_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        for pg_name in names:
            admin.execute(f"CREATE DATABASE {pg_name}")
    urls = [with_database(args.database_url, pg_name) for pg_name in names]
    try:
        with tempfile.TemporaryDirectory(prefix="clypt-bench-") as name:
            return run(args, load, "wrk" if use_wrk else "python", Path(name), urls)
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            for pg_name in names:
                admin.execute(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")


def run(args: argparse.Namespace, load: Any, client: str, tmp: Path, pg_urls: list[str]) -> int:
    db = tmp / "clypt.db"
    sqlite_url = f"sqlite:///{db}"
    for url in (sqlite_url, *pg_urls):
        anyio.run(make_link, url, db)
    servers = [
        Server("S  serve, 1 worker, SQLite", sqlite_url, 1, free_port()),
        Server("P1 serve, 1 worker, PostgreSQL", pg_urls[0], 1, free_port()),
        Server("P2 serve --workers 2, PostgreSQL", pg_urls[1], 2, free_port()),
    ]
    exits: dict[str, int] = {}
    try:
        for server in servers:
            server.start(tmp / f"{server.label[:2].strip()}.log")
        for server in servers:
            _, n = load(server.port, args.warmup, args.connections)
            server.requests += n
        load_before = os.getloadavg()[0]
        for r in range(args.rounds):
            # rotate the order each round, so machine noise hits every server alike
            order = servers[r % 3 :] + servers[: r % 3]
            for server in order:
                rps, n = load(server.port, args.duration, args.connections)
                server.rps.append(rps)
                server.requests += n
            figures = ", ".join(f"{s.label[:2].strip()} {s.rps[-1]:.0f}/s" for s in servers)
            print(f"  round {r + 1}/{args.rounds}: {figures}", file=sys.stderr, flush=True)
        load_after = os.getloadavg()[0]
    except RunError as exc:
        print(f"run failed: {exc}", file=sys.stderr)
        return 2
    finally:
        for server in servers:
            exits[server.label] = server.stop()
    clicks = {server.label: anyio.run(count_clicks, server.database_url, db) for server in servers}

    print(
        f"Redirect throughput with click recording, {args.rounds} rounds x "
        f"{args.duration:.0f} s, {args.connections} connections, load generator: {client}"
    )
    print(
        f"machine: nproc={os.cpu_count()}, Python {platform.python_version()}, "
        f"{platform.system()}; 1-min load average {load_before:.2f} before, {load_after:.2f} after"
    )
    print(f"PostgreSQL: {pg_settings(pg_urls[0])}")
    print()
    print("| server | median req/s | min req/s | max req/s | per round |")
    print("| --- | ---: | ---: | ---: | --- |")
    for server in servers:
        rounds = ", ".join(f"{v:.0f}" for v in server.rps)
        print(
            f"| {server.label[3:]} | {statistics.median(server.rps):.0f} | {min(server.rps):.0f} "
            f"| {max(server.rps):.0f} | {rounds} |"
        )
    print()
    sqlite, one, two = (statistics.median(server.rps) for server in servers)
    # the per-round ratio of the two PostgreSQL servers, whose runs sit side by side in a round
    paired = statistics.median(b / a for a, b in zip(servers[1].rps, servers[2].rps, strict=True))
    print(f"ratio P2/P1: {two / one:.2f} (of medians), {paired:.2f} (median of per-round ratios)")
    print(f"ratio P2/S: {two / sqlite:.2f}; P1/S: {one / sqlite:.2f} (of medians)")
    ok = True
    for server in servers:
        got = clicks[server.label]
        print(
            f"{server.label[:2].strip()} stopped with SIGTERM (exit {exits[server.label]}); clicks "
            f"in its store: {got}, redirects the load generator saw answered: {server.requests}"
        )
        if got < server.requests:
            print(f"FAIL: {server.requests - got} answered redirects have no click")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
