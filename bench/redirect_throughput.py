"""Redirect throughput: Clypt's `GET /{code}` (click recording on) vs a bare Starlette handler.

Usage: .venv/bin/python bench/redirect_throughput.py [--rounds N] [--duration S]
                                                     [--connections C] [--min-ratio R]
                                                     [--webhook [--min-webhook-ratio R]]

Two servers run side by side on loopback, each its own process, one uvicorn worker each, with
the same uvicorn options (`clypt_mcp.http.serve.uvicorn_options`):

  A  bare:  a Starlette app whose only route looks the code up in a dict and returns the same
            302 (same Location, same Cache-Control) Clypt answers;
  B  clypt: `clypt_mcp.http.serve.run_server` on a fresh SQLite file: the whole app (REST, MCP,
            redirect routes), the link looked up in the store, visitor parsed (user agent,
            country, referrer, visitor hash) and a click queued for the batch writer.

A load generator in a third process drives one server at a time: `wrk` when it is installed
(Debian package `wrk`), else a bounded asyncio keep-alive client. Every request carries a real
browser user agent and a Referer, so the click path is the one people take. Rounds alternate the
order (A,B / B,A / ...), so machine noise hits both alike; the report gives medians and the
ratio B/A. Afterwards B is stopped with SIGTERM and the clicks in its database are counted: they
must match the requests it answered (the recorder loses none on a clean stop).

`--webhook` adds a third server, C: Clypt as B on its own SQLite file whose workspace has a
webhook endpoint subscribed to `link.clicked` (with CLYPT_DEV_ALLOW_LOOPBACK=true), delivering to
a receiver process on loopback that answers 204 and counts the clicks it is sent. B and C then
both run with CLYPT_CLICK_RATE lifted, so every visit from the one load-generator address is a
click (not `suspect`) and C sends an event for each. The report
then gives C/B, which must stay >= --min-webhook-ratio (0.90): an active subscription costs the
redirect path little, since its events are written with the click batch, off the hot path.

Exit status: 0 when median(B)/median(A) >= --min-ratio (default 0.70), 1 when not, 2 when a
run failed. Only loopback; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


# --- the two servers (run as `--serve bare|clypt PORT [DB]` in their own process) ----------


def serve_bare(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from clypt_mcp.http.serve import uvicorn_options

    targets = {CODE: LOCATION}

    async def redirect(request: Request) -> Response:
        location = targets.get(request.path_params["code"])
        if location is None:
            return PlainTextResponse("not found", status_code=404)
        return Response(
            status_code=302, headers={"cache-control": "no-store", "location": location}
        )

    app = Starlette(routes=[Route("/{code}", redirect, methods=["GET", "HEAD"])])
    uvicorn.run(app, **uvicorn_options(HOST, port, "warning", access_log=False))


def serve_clypt(port: int, db: str) -> None:
    from clypt_mcp.config import Settings
    from clypt_mcp.http.serve import run_server

    settings = Settings(database_url=f"sqlite:///{db}", base_url=f"http://{HOST}:{port}")
    run_server(settings, HOST, port, 1, log_level="warning")


def serve_receiver(port: int, counts: str) -> None:
    """A webhook receiver: 204 to every POST; the clicks it was sent, written to `counts`."""
    import json

    got = {"requests": 0, "clicks": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline():
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = json.loads(await reader.readexactly(length))
                got["requests"] += 1
                got["clicks"] += len(body.get("data", {}).get("clicks", []))
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        server = await asyncio.start_server(handle, HOST, port)
        async with server:
            await stop.wait()

    asyncio.run(main())
    Path(counts).write_text(json.dumps(got))  # on SIGTERM


def make_database(db: Path, webhook: str | None = None) -> None:
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
            if webhook is not None:
                from clypt_mcp.models import WebhookCreate  # not in trees before webhooks

                service.webhooks.allow_loopback = True
                await service.webhooks.create(
                    Principal(workspace_id="default"),
                    WebhookCreate(url=webhook, events=["link.clicked"]),
                )
        finally:
            await store.close()

    anyio.run(create)


@dataclass
class Server:
    label: str
    argv: list[str]
    port: int
    proc: subprocess.Popen[bytes] | None = None
    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server CPU time per request
    requests: int = 0
    env: dict[str, str] | None = None

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (all its threads)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def start(self, log: Path) -> None:
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
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


def load_wrk(port: int, duration: float, connections: int) -> tuple[float, int]:
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "-H",
        f"User-Agent: {USER_AGENT}",
        "-H",
        f"Referer: {REFERER}",
        f"http://{HOST}:{port}/{CODE}",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=False)
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out.stdout)
    total = re.search(r"(\d+) requests in", out.stdout)
    if out.returncode != 0 or rps is None or total is None:
        raise RunError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    errors = re.search(r"Socket errors: (.*)", out.stdout)
    if bad or errors:
        raise RunError(f"wrk saw errors:\n{out.stdout}")
    return float(rps.group(1)), int(total.group(1))


def load_python(port: int, duration: float, connections: int) -> tuple[float, int]:
    """A bounded keep-alive client in a child process (the fallback without wrk)."""
    argv = [sys.executable, __file__, "--client", str(port), str(duration), str(connections)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=False)
    if out.returncode != 0:
        raise RunError(f"client failed:\n{out.stderr[-2000:]}")
    rps, total = out.stdout.split()
    return float(rps), int(total)


def client_main(port: int, duration: float, connections: int) -> None:
    request = (
        f"GET /{CODE} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: {USER_AGENT}\r\n"
        f"Referer: {REFERER}\r\n\r\n"
    ).encode()

    async def worker(deadline: float) -> int:
        reader, writer = await asyncio.open_connection(HOST, port)
        done = 0
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                if not head.startswith(b"HTTP/1.1 302"):
                    raise RunError(head.decode("latin-1"))
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                if length and int(length.group(1)):
                    await reader.readexactly(int(length.group(1)))
                done += 1
        finally:
            writer.close()
        return done

    async def run() -> tuple[float, int]:
        start = time.monotonic()
        counts = await asyncio.gather(*(worker(start + duration) for _ in range(connections)))
        return sum(counts) / (time.monotonic() - start), sum(counts)

    rps, total = asyncio.run(run())
    print(f"{rps:.1f} {total}")


# --- the run ------------------------------------------------------------------------------


def count_clicks(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM clicks").fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (5)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run (8)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up each (3)")
    parser.add_argument("--connections", type=int, default=32, help="open connections (32)")
    parser.add_argument("--min-ratio", type=float, default=0.70, help="pass mark for B/A (0.70)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--before",
        default=None,
        metavar="SRC",
        help="also measure Clypt from this source folder (PYTHONPATH), e.g. an older commit's src",
    )
    parser.add_argument(
        "--webhook",
        action="store_true",
        help="also measure Clypt with a link.clicked webhook subscription active (C)",
    )
    parser.add_argument(
        "--min-webhook-ratio", type=float, default=0.90, help="pass mark for C/B (0.90)"
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.duration <= 0 or not 1 <= args.connections <= 1000:
        parser.error("--rounds >= 1, --duration > 0 and 1 <= --connections <= 1000")
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
    load = load_wrk if use_wrk else load_python

    with tempfile.TemporaryDirectory(prefix="clypt-bench-") as name:
        tmp = Path(name)
        db = tmp / "clypt.db"
        make_database(db)
        me = [sys.executable, __file__, "--serve"]
        port_a, port_b = free_port(), free_port()
        bare = Server("A  bare Starlette", [*me, "bare", str(port_a)], port_a)
        clypt = Server("B  Clypt redirect", [*me, "clypt", str(port_b), str(db)], port_b)
        if args.webhook:  # every visit a click (one client address), so each gets its event
            clypt.env = os.environ | {"CLYPT_CLICK_RATE": "100000000/minute"}
        servers = [bare, clypt]
        if args.before:  # Clypt from another source tree too, e.g. the commit before a change
            db_c, port_c = tmp / "before.db", free_port()
            env = os.environ | {"PYTHONPATH": args.before}
            # Made by the older tree itself: its code may not read a newer schema's rows.
            subprocess.run([sys.executable, __file__, "--make-db", str(db_c)], env=env, check=True)
            argv = [*me, "clypt", str(port_c), str(db_c)]
            servers.append(Server("B  Clypt redirect, before", argv, port_c, env=env))
        receiver: subprocess.Popen[bytes] | None = None
        counts = tmp / "received.json"
        if args.webhook:  # Clypt with a link.clicked subscription, and its receiver
            port_r, db_w, port_w = free_port(), tmp / "webhook.db", free_port()
            make_database(db_w, webhook=f"http://{HOST}:{port_r}/hook")
            receiver = subprocess.Popen(
                [*me, "receiver", str(port_r), str(counts)], start_new_session=True
            )
            env = os.environ | {
                "CLYPT_DEV_ALLOW_LOOPBACK": "true",
                "CLYPT_CLICK_RATE": "100000000/minute",
            }
            argv = [*me, "clypt", str(port_w), str(db_w)]
            servers.append(Server("C  Clypt redirect, link.clicked webhook", argv, port_w, env=env))
        try:
            for i, server in enumerate(servers):
                server.start(tmp / f"{i}.log")
            probes = 1
            for server in servers:
                _, n = load(server.port, args.warmup, args.connections)
                server.requests += n
            load_before = os.getloadavg()[0]
            for r in range(args.rounds):
                order = servers if r % 2 == 0 else servers[::-1]
                for server in order:
                    cpu = server.cpu_seconds()
                    rps, n = load(server.port, args.duration, args.connections)
                    server.cpu_us.append((server.cpu_seconds() - cpu) / n * 1e6)
                    server.rps.append(rps)
                    server.requests += n
                print(
                    f"  round {r + 1}/{args.rounds}: A {bare.rps[-1]:.0f}/s, "
                    f"B {clypt.rps[-1]:.0f}/s"
                    + "".join(f", {x.label.split()[0]} {x.rps[-1]:.0f}/s" for x in servers[2:]),
                    file=sys.stderr,
                    flush=True,
                )
            load_after = os.getloadavg()[0]
        except RunError as exc:
            print(f"run failed: {exc}", file=sys.stderr)
            return 2
        finally:
            bare.stop()
            code = clypt.stop()
            for extra in servers[2:]:
                extra.stop()
            if receiver is not None:
                time.sleep(1)
                stop_group(receiver, 5)
        if args.webhook:
            received = counts.read_text() if counts.exists() else "nothing"
            print(f"webhook receiver got: {received}", file=sys.stderr)
        clicks = count_clicks(db)
        answered = clypt.requests + probes
        return report(
            args,
            servers,
            "wrk" if use_wrk else "python",
            code,
            clicks,
            answered,
            (load_before, load_after),
        )


def report(
    args: argparse.Namespace,
    servers: list[Server],
    client: str,
    exit_code: int,
    clicks: int,
    answered: int,
    load: tuple[float, float],
) -> int:
    bare, clypt = servers[:2]
    a, b = statistics.median(bare.rps), statistics.median(clypt.rps)
    ratios = [y / x for x, y in zip(bare.rps, clypt.rps, strict=True)]
    print(
        f"Redirect throughput, {args.rounds} rounds x {args.duration:.0f} s, "
        f"{args.connections} connections, load generator: {client}"
    )
    print(
        f"machine: nproc={os.cpu_count()}, Python {platform.python_version()}, "
        f"{platform.system()}; 1-min load average {load[0]:.2f} before, {load[1]:.2f} after"
    )
    print()
    print("| server | median req/s | min req/s | max req/s | median server CPU µs/request |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for server in servers:
        rps = server.rps
        print(
            f"| {server.label.replace('  ', ' ')} | {statistics.median(rps):.0f} | "
            f"{min(rps):.0f} | {max(rps):.0f} | {statistics.median(server.cpu_us):.0f} |"
        )
    print()
    per_round = ", ".join(f"{r:.2f}" for r in ratios)
    cpu_ratio = statistics.median(bare.cpu_us) / statistics.median(clypt.cpu_us)
    print(f"throughput ratio B/A: {b / a:.2f} (of medians); per round: {per_round}")
    print(f"CPU-per-request ratio A/B: {cpu_ratio:.2f} (less sensitive to other load)")
    webhook_ok = True
    for extra in servers[2:]:
        if extra.label.startswith("C"):
            c_ratio = statistics.median(extra.rps) / b
            per = ", ".join(f"{z / y:.2f}" for y, z in zip(clypt.rps, extra.rps, strict=True))
            print(f"throughput ratio C/B (with a link.clicked webhook / without): {c_ratio:.2f}; "
                  f"per round: {per}")  # fmt: skip
            if c_ratio < args.min_webhook_ratio:
                print(f"FAIL: webhook ratio {c_ratio:.2f} is below {args.min_webhook_ratio:.2f}")
                webhook_ok = False
        extra_cpu = statistics.median(bare.cpu_us) / statistics.median(extra.cpu_us)
        print(
            f"{extra.label.split('  ')[1]}: ratio to A {statistics.median(extra.rps) / a:.2f}, "
            f"CPU-per-request ratio A/it {extra_cpu:.2f}"
        )
    how = "re-raised SIGTERM after a clean shutdown" if exit_code == -signal.SIGTERM else ""
    print(
        f"B stopped with SIGTERM (exit {exit_code}{', ' + how if how else ''}); clicks in its "
        f"database: {clicks}, requests the load generator saw answered: {answered}"
    )
    ok = webhook_ok
    if clicks < answered:
        print(f"FAIL: {answered - clicks} answered redirects have no click")
        ok = False
    if b / a < args.min_ratio:
        print(f"FAIL: ratio {b / a:.2f} is below {args.min_ratio:.2f}")
        ok = False
    if ok:
        print(f"OK: ratio {b / a:.2f} >= {args.min_ratio:.2f}, no click lost")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--serve":
        if sys.argv[2] == "bare":
            serve_bare(int(sys.argv[3]))
        elif sys.argv[2] == "receiver":
            serve_receiver(int(sys.argv[3]), sys.argv[4])
        else:
            serve_clypt(int(sys.argv[3]), sys.argv[4])
        sys.exit(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--make-db":
        make_database(Path(sys.argv[2]))
        sys.exit(0)
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        client_main(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
        sys.exit(0)
    sys.exit(main())
