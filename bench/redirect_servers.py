"""Redirect throughput: Clypt's `GET /{code}` (click recording on) vs a bare ASGI 302 app, on
uvicorn (what `clypt-mcp serve` runs on) and on granian, in one interleaved run.

Usage: .venv/bin/python bench/redirect_servers.py [--rounds N] [--duration S]
                                                     [--connections C] [--min-ratio R]
                                                     [--servers uvicorn,granian]

Each server runs in its own process, one worker each, on loopback:

  bare  on uvicorn:  a Starlette app whose only route looks the code up in a dict and returns
                     the same 302 (same Location, same Cache-Control) Clypt answers, with the
                     uvicorn options `serve` uses (`clypt_mcp.http.serve.uvicorn_options`);
  clypt on uvicorn:  `clypt_mcp.http.serve.run_server` on a fresh SQLite file: the whole app
                     (REST, MCP, redirect routes), the link looked up through the store's guard,
                     visitor parsed (user agent, country, referrer, visitor hash) and a click
                     queued for the batch writer;
  bare  on granian:  the same Starlette app under `granian --interface asgi`;
  clypt on granian:  the same Clypt app (`clypt_mcp.http.serve:app_from_env`, a factory) under
                     granian, on its own SQLite file. Only when granian is installed.

A load generator in another process drives one server at a time: `wrk` when it is installed
(Debian package `wrk`), else a bounded asyncio keep-alive client that also reports p99 latency.
Every request carries a real browser user agent and a Referer, so the click path is the one
people take. Rounds alternate the order, so machine noise hits all alike; the report gives
medians, server CPU per request (all processes of each server), and the ratios: Clypt / bare on
the same server, and Clypt on granian / Clypt on uvicorn. Afterwards each Clypt server is
stopped with SIGTERM and the clicks in its database are counted: they must match the requests
it answered (the recorder loses none on a clean stop).

Exit status: 0 when Clypt / bare on uvicorn (the server `serve` runs on) >= --min-ratio (default
0.70) and no click was lost, 1 when not, 2 when a run failed. Only loopback; every loop is
bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CODE = "bench"
DESTINATION = "https://example.com/landing?ref=bench"
LOCATION = "https://example.com/landing?ref=bench&utm_source=newsletter&utm_medium=email"
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
REFERER = "https://news.example.org/today"
HOST = "127.0.0.1"


class RunError(Exception):
    """A server that did not start, or a load run that failed."""


# --- the servers (run as `--serve bare|clypt PORT [DB]` in their own process) -------------


def bare_app() -> Any:
    """The bare app: one dict lookup and a fixed 302 (also granian's `--factory` target)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    targets = {CODE: LOCATION}

    async def redirect(request: Request) -> Response:
        location = targets.get(request.path_params["code"])
        if location is None:
            return PlainTextResponse("not found", status_code=404)
        return Response(
            status_code=302, headers={"cache-control": "no-store", "location": location}
        )

    return Starlette(routes=[Route("/{code}", redirect, methods=["GET", "HEAD"])])


def serve_bare(port: int) -> None:
    import uvicorn

    from clypt_mcp.http.serve import uvicorn_options

    uvicorn.run(bare_app(), **uvicorn_options(HOST, port, "warning", access_log=False))


def granian_argv(port: int, target: str) -> list[str]:
    return [
        sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
        "--host", HOST, "--port", str(port), "--workers", "1", "--log-level", "warning",
        "--no-access-log", "--working-dir", str(Path(__file__).parent), target,
    ]  # fmt: skip


def serve_clypt(port: int, db: str) -> None:
    from clypt_mcp.config import Settings
    from clypt_mcp.http.serve import run_server

    settings = Settings(database_url=f"sqlite:///{db}", base_url=f"http://{HOST}:{port}")
    run_server(settings, HOST, port, 1, log_level="warning")


def make_database(db: Path) -> None:
    import anyio

    from clypt_mcp.core.service import ClyptService
    from clypt_mcp.models import LinkCreate, Principal
    from clypt_mcp.store.sqlite import SqliteStore

    async def create() -> None:
        store = SqliteStore(db)
        await store.open()
        try:
            service = ClyptService(store, base_url="http://127.0.0.1:1")
            data = LinkCreate(
                url=DESTINATION, code=CODE, utm_source="newsletter", utm_medium="email"
            )
            await service.create_link(Principal(workspace_id="default"), data)
        finally:
            await store.close()

    anyio.run(create)


@dataclass
class Server:
    label: str
    argv: list[str]
    port: int
    db: Path | None = None  # a Clypt server's store, whose clicks are counted at the end
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    rps: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server CPU time per request
    requests: int = 0
    exit_code: int = 0

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server's processes so far (its process group: a
        granian worker is a child process)."""
        assert self.proc is not None
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.proc.pid:  # pgrp (start_new_session made it the pid)
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def start(self, log: Path) -> None:
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=None if self.env is None else {**os.environ, **self.env},
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RunError(f"{self.label} exited at start:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                status, location = get_once(self.port)
                if status != 302 or location != LOCATION:
                    raise RunError(f"{self.label} answered {status} {location!r}")
                return
            time.sleep(0.1)
        raise RunError(f"{self.label} did not answer within 30 s:\n{log.read_text()[-2000:]}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait (SIGKILL after `timeout`); the exit code."""
        return stop_group(self.proc, timeout)


def stop_group(proc: subprocess.Popen[bytes] | None, timeout: float) -> int:
    """SIGTERM to `proc`'s process group, wait (SIGKILL after `timeout`); the exit code."""
    if proc is None:
        return 0
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return -9


def get_once(port: int) -> tuple[int, str | None]:
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(
            f"GET /{CODE} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: {USER_AGENT}\r\n"
            f"Referer: {REFERER}\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status = int(head.split(" ", 2)[1])
    match = re.search(r"(?im)^location: *(.+)$", head)
    return status, match.group(1).strip() if match else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --- load ---------------------------------------------------------------------------------


def load_wrk(port: int, duration: float, connections: int) -> tuple[float, int, float]:
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "--latency",
        "-H",
        f"User-Agent: {USER_AGENT}",
        "-H",
        f"Referer: {REFERER}",
        f"http://{HOST}:{port}/{CODE}",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=False)
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out.stdout)
    total = re.search(r"(\d+) requests in", out.stdout)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out.stdout)
    if out.returncode != 0 or rps is None or total is None or p99 is None:
        raise RunError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    errors = re.search(r"Socket errors: (.*)", out.stdout)
    if bad or errors:
        raise RunError(f"wrk saw errors:\n{out.stdout}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return float(rps.group(1)), int(total.group(1)), float(p99.group(1)) * scale


def load_python(port: int, duration: float, connections: int) -> tuple[float, int, float]:
    """A bounded keep-alive client in a child process (the fallback without wrk)."""
    argv = [sys.executable, __file__, "--client", str(port), str(duration), str(connections)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=False)
    if out.returncode != 0:
        raise RunError(f"client failed:\n{out.stderr[-2000:]}")
    rps, total, p99 = out.stdout.split()
    return float(rps), int(total), float(p99)


def client_main(port: int, duration: float, connections: int) -> None:
    request = (
        f"GET /{CODE} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: {USER_AGENT}\r\n"
        f"Referer: {REFERER}\r\n\r\n"
    ).encode()
    latencies: list[float] = []

    async def worker(deadline: float) -> int:
        reader, writer = await asyncio.open_connection(HOST, port)
        done = 0
        clock = time.monotonic
        try:
            while (sent := clock()) < deadline:
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                if not head.startswith(b"HTTP/1.1 302"):
                    raise RunError(head.decode("latin-1"))
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                if length and int(length.group(1)):
                    await reader.readexactly(int(length.group(1)))
                latencies.append(clock() - sent)
                done += 1
        finally:
            writer.close()
        return done

    async def run() -> tuple[float, int]:
        start = time.monotonic()
        counts = await asyncio.gather(*(worker(start + duration) for _ in range(connections)))
        return sum(counts) / (time.monotonic() - start), sum(counts)

    rps, total = asyncio.run(run())
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"{rps:.1f} {total} {p99:.3f}")


# --- the run ------------------------------------------------------------------------------


def count_clicks(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM clicks").fetchone()[0])


def make_servers(tmp: Path, kinds: list[str]) -> list[Server]:
    me = [sys.executable, __file__, "--serve"]
    servers: list[Server] = []
    for kind in kinds:
        port_bare, port_clypt = free_port(), free_port()
        db = tmp / f"clypt-{kind}.db"
        make_database(db)
        if kind == "uvicorn":
            servers.append(Server("bare on uvicorn", [*me, "bare", str(port_bare)], port_bare))
            servers.append(
                Server(
                    "Clypt on uvicorn (serve)",
                    [*me, "clypt", str(port_clypt), str(db)],
                    port_clypt,
                    db=db,
                )
            )
        else:
            target = f"{Path(__file__).stem}:bare_app"
            servers.append(Server("bare on granian", granian_argv(port_bare, target), port_bare))
            env = {
                "CLYPT_DATABASE_URL": f"sqlite:///{db}",
                "CLYPT_BASE_URL": f"http://{HOST}:{port_clypt}",
                "XDG_STATE_HOME": str(tmp / "state"),
            }
            argv = granian_argv(port_clypt, "clypt_mcp.http.serve:app_from_env")
            servers.append(Server("Clypt on granian", argv, port_clypt, db=db, env=env))
    return servers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (5)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run (8)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up each (3)")
    parser.add_argument("--connections", type=int, default=32, help="open connections (32)")
    parser.add_argument("--min-ratio", type=float, default=0.70, help="pass mark (0.70)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--servers", default="uvicorn,granian", help="uvicorn,granian (granian when installed)"
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.duration <= 0 or not 1 <= args.connections <= 1000:
        parser.error("--rounds >= 1, --duration > 0 and 1 <= --connections <= 1000")
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if not set(kinds) <= {"uvicorn", "granian"} or "uvicorn" not in kinds:
        parser.error("--servers: uvicorn, and optionally granian")
    if "granian" in kinds and importlib.util.find_spec("granian") is None:
        print("granian is not installed: measuring uvicorn only", file=sys.stderr)
        kinds.remove("granian")
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
    load = load_wrk if use_wrk else load_python

    with tempfile.TemporaryDirectory(prefix="clypt-bench-") as name:
        tmp = Path(name)
        servers = make_servers(tmp, kinds)
        try:
            for i, server in enumerate(servers):
                server.start(tmp / f"server-{i}.log")
            for server in servers:
                _, n, _ = load(server.port, args.warmup, args.connections)
                server.requests += n + 1  # and the start-up probe
            load_before = os.getloadavg()[0]
            for r in range(args.rounds):
                order = servers if r % 2 == 0 else servers[::-1]
                for server in order:
                    cpu = server.cpu_seconds()
                    rps, n, p99 = load(server.port, args.duration, args.connections)
                    server.cpu_us.append((server.cpu_seconds() - cpu) / n * 1e6)
                    server.rps.append(rps)
                    server.p99_ms.append(p99)
                    server.requests += n
                summary = ", ".join(f"{s.label} {s.rps[-1]:.0f}/s" for s in servers)
                print(f"  round {r + 1}/{args.rounds}: {summary}", file=sys.stderr, flush=True)
            load_after = os.getloadavg()[0]
        except RunError as exc:
            print(f"run failed: {exc}", file=sys.stderr)
            return 2
        finally:
            for server in servers:
                server.exit_code = server.stop()
        clicks = {s.label: count_clicks(s.db) for s in servers if s.db is not None}
        return report(
            args, servers, "wrk" if use_wrk else "python", clicks, (load_before, load_after)
        )


def report(
    args: argparse.Namespace,
    servers: list[Server],
    client: str,
    clicks: dict[str, int],
    load: tuple[float, float],
) -> int:
    print(
        f"Redirect throughput, {args.rounds} rounds x {args.duration:.0f} s, "
        f"{args.connections} connections, load generator: {client}"
    )
    print(
        f"machine: nproc={os.cpu_count()}, Python {platform.python_version()}, "
        f"{platform.system()}; 1-min load average {load[0]:.2f} before, {load[1]:.2f} after"
    )
    print()
    print(
        "| server | median req/s | min req/s | max req/s | median p99 ms "
        "| median server CPU µs/request |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for server in servers:
        rps = server.rps
        print(
            f"| {server.label} | {statistics.median(rps):.0f} | {min(rps):.0f} | "
            f"{max(rps):.0f} | {statistics.median(server.p99_ms):.2f} | "
            f"{statistics.median(server.cpu_us):.0f} |"
        )
    print()
    by = {s.label: s for s in servers}

    def ratio(a: str, b: str) -> tuple[float, float, float, str]:
        x, y = by[a], by[b]
        per_round = ", ".join(f"{q / p:.2f}" for p, q in zip(x.rps, y.rps, strict=True))
        rps = statistics.median(y.rps) / statistics.median(x.rps)
        cpu = statistics.median(x.cpu_us) / statistics.median(y.cpu_us)
        p99 = statistics.median(y.p99_ms) / statistics.median(x.p99_ms)
        return rps, cpu, p99, per_round

    pairs = [("bare on uvicorn", "Clypt on uvicorn (serve)")]
    if "bare on granian" in by:
        pairs.append(("bare on granian", "Clypt on granian"))
        pairs.append(("Clypt on uvicorn (serve)", "Clypt on granian"))
    results: dict[tuple[str, str], float] = {}
    for a, b in pairs:
        through, cpu, p99, per_round = ratio(a, b)
        results[(a, b)] = through
        print(
            f"{b} / {a}: throughput {through:.2f} (per round {per_round}); CPU per request "
            f"{cpu:.2f} (of {a} / of {b}); p99 latency x{p99:.2f}"
        )
    ok = True
    for server in servers:
        if server.db is None:
            continue
        n = clicks[server.label]
        how = "clean" if server.exit_code in (0, -signal.SIGTERM) else "NOT clean"
        print(
            f"{server.label}: stopped with SIGTERM (exit {server.exit_code}, {how}); clicks in "
            f"its database {n}, requests answered {server.requests}"
        )
        if n < server.requests:
            print(f"FAIL: {server.label}: {server.requests - n} answered redirects have no click")
            ok = False
    chosen = results[pairs[0]]
    if chosen < args.min_ratio:
        print(f"FAIL: Clypt / bare on uvicorn {chosen:.2f} is below {args.min_ratio:.2f}")
        ok = False
    if ok:
        print(f"OK: Clypt / bare on uvicorn {chosen:.2f} >= {args.min_ratio:.2f}, no click lost")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--serve":
        if sys.argv[2] == "bare":
            serve_bare(int(sys.argv[3]))
        else:
            serve_clypt(int(sys.argv[3]), sys.argv[4])
        sys.exit(0)
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        client_main(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
        sys.exit(0)
    sys.exit(main())
