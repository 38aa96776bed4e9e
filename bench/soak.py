"""Soak: minutes of mixed redirects, creates and analytics against `clypt-mcp serve` on loopback.

Usage: .venv/bin/python bench/soak.py [--minutes 5] [--warmup 30] [--workers 8]

`clypt-mcp serve` runs as a subprocess on a free 127.0.0.1 port with a fresh SQLite file (HOME
and the database in a temp dir, `CLYPT_RATE_LIMIT` raised so the limiter stays out of the way,
`CLYPT_TRUSTED_PROXIES=127.0.0.1` so the `X-Forwarded-For` this script sends gives each visitor
its own address). A key is made with `clypt-mcp keys create`, some links with the REST API; then
a few asyncio workers in this process (httpx2, keep-alive) send, until the time is up:

  ~85%  GET /{code}               302 expected; varied user agents, referrers and client IPs
   ~8%  POST /api/v1/links        201 expected (each new link joins the redirect targets)
   ~5%  GET /api/v1/analytics     200 expected (period=24h, the whole workspace)
   ~2%  GET /api/v1/links         200 expected (limit=20)

Any other status, or an exception, counts as an error. The server's RSS (VmRSS from /proc) is
sampled every few seconds; growth = (RSS at end - RSS after warm-up) / RSS after warm-up. At the
end the server gets SIGTERM and must stop cleanly (exit code 0, or -15: uvicorn re-raises the
signal after its graceful shutdown; nothing logged as an error); the clicks in its database are
then counted and must be at least the redirects answered (none lost on a clean stop).

Exit status: 0 when there was no error, growth < --max-growth (10%), a clean exit and no lost
click; 1 when not; 2 when the server did not start. Only loopback; every loop is bounded in time
(and the requests in number), the whole run by the duration plus about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

HOST = "127.0.0.1"
START_LINKS = 50
KINDS = ("redirect", "create", "analytics", "list")
WEIGHTS = (85, 8, 5, 2)
EXPECTED = {"redirect": 302, "create": 201, "analytics": 200, "list": 200}
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.97",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
)
REFERERS = (
    None,
    "https://news.example.org/today",
    "https://www.google.com/",
    "https://t.co/abc",
    "https://mail.example.com/inbox",
)


class RunError(Exception):
    """The server did not start, or a setup step failed."""


@dataclass
class Tally:
    ok: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)  # the first few error descriptions

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 10:
            self.samples.append(f"{kind}: {what}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RunError(f"no VmRSS for pid {pid}")


def server_env(tmp: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLYPT_")}
    env.update(
        HOME=str(tmp),
        XDG_DATA_HOME=str(tmp / "data"),
        CLYPT_DATABASE_URL=f"sqlite:///{tmp / 'clypt.db'}",
        CLYPT_BASE_URL=f"http://{HOST}:{port}",
        CLYPT_RATE_LIMIT="1000000/minute",
        CLYPT_TRUSTED_PROXIES=HOST,
    )
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "clypt_mcp", *args]


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cli("serve", "--host", HOST, "--port", str(port)),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunError(f"server exited at start:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(f"http://{HOST}:{port}/healthz", timeout=2).status_code == 200:
                return proc
        time.sleep(0.2)
    stop_server(proc)
    raise RunError(f"server did not answer within 30 s:\n{log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, wait (SIGKILL after `timeout`); the exit code."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return -9


def random_ip(rng: random.Random) -> str:
    # A pool of repeat visitors plus a stream of new ones (documentation and public ranges).
    if rng.random() < 0.7:
        return f"198.51.100.{rng.randrange(1, 255)}"
    return (
        f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    )


@dataclass
class Load:
    client: httpx2.AsyncClient
    codes: list[str]
    tally: Tally
    deadline: float
    budget: int  # requests left for all workers together
    created: int = 0

    async def create(self) -> int:
        self.created += 1
        n = self.created
        body = {"url": f"https://example.com/soak/{n}?v={n % 7}", "title": f"soak {n}"}
        response = await self.client.post("/api/v1/links", json=body)
        if response.status_code == 201:
            self.codes.append(response.json()["code"])
        return response.status_code

    async def one(self, kind: str, rng: random.Random) -> int:
        if kind == "redirect":
            headers = {"user-agent": rng.choice(USER_AGENTS), "x-forwarded-for": random_ip(rng)}
            referer = rng.choice(REFERERS)
            if referer:
                headers["referer"] = referer
            path = f"/{rng.choice(self.codes)}"
            return (await self.client.get(path, headers=headers)).status_code
        if kind == "create":
            return await self.create()
        if kind == "analytics":
            return (
                await self.client.get("/api/v1/analytics", params={"period": "24h"})
            ).status_code
        return (await self.client.get("/api/v1/links", params={"limit": 20})).status_code

    async def worker(self, seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < self.deadline and self.budget > 0:
            self.budget -= 1
            kind = rng.choices(KINDS, WEIGHTS)[0]
            try:
                status = await self.one(kind, rng)
            except Exception as exc:  # any failure is an error to count, not a crash
                self.tally.error(kind, f"{type(exc).__name__}: {exc}")
                continue
            if status == EXPECTED[kind]:
                self.tally.ok[kind] += 1
            else:
                self.tally.error(kind, f"status {status}")


async def sampler(pid: int, every: float, deadline: float, out: list[tuple[float, int]]) -> None:
    start = time.monotonic()
    while True:
        out.append((time.monotonic() - start, rss_kib(pid)))
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(min(every, max(0.0, deadline - time.monotonic())))


async def drive(
    port: int, key: str, args: argparse.Namespace
) -> tuple[Tally, list[tuple[float, int]], float]:
    tally = Tally()
    limits = httpx2.Limits(max_connections=args.workers, max_keepalive_connections=args.workers)
    async with httpx2.AsyncClient(
        base_url=f"http://{HOST}:{port}",
        headers={"authorization": f"Bearer {key}"},
        follow_redirects=False,
        timeout=10,
        limits=limits,
    ) as client:
        load = Load(client, [], tally, 0.0, args.max_requests)
        for _ in range(START_LINKS):
            if await load.create() != 201:
                raise RunError("could not create the starting links")
        duration = args.minutes * 60
        start = time.monotonic()
        load.deadline = start + duration
        samples: list[tuple[float, int]] = []
        await asyncio.gather(
            sampler(args.pid, args.sample, load.deadline, samples),
            *(load.worker(seed) for seed in range(args.workers)),
        )
        return tally, samples, time.monotonic() - start


def count_clicks(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM clicks").fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="duration of the load (5)")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before baseline (30)")
    parser.add_argument("--workers", type=int, default=8, help="concurrent workers (8)")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--max-requests", type=int, default=5_000_000, help="request budget")
    parser.add_argument("--max-growth", type=float, default=0.10, help="pass mark (0.10)")
    args = parser.parse_args()
    if not (0 < args.minutes <= 60 and 0 <= args.warmup < args.minutes * 60):
        parser.error("0 < --minutes <= 60 and 0 <= --warmup < the duration")
    if not (1 <= args.workers <= 64 and 0.5 <= args.sample <= 60 and args.max_requests > 0):
        parser.error("1 <= --workers <= 64, 0.5 <= --sample <= 60, --max-requests > 0")

    with tempfile.TemporaryDirectory(prefix="clypt-soak-") as name:
        tmp = Path(name)
        port = free_port()
        env = server_env(tmp, port)
        made = subprocess.run(
            cli("keys", "create", "--name", "soak"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if made.returncode != 0 or not made.stdout.strip():
            print(f"keys create failed:\n{made.stderr[-2000:]}", file=sys.stderr)
            return 2
        key = made.stdout.strip()
        log = tmp / "server.log"
        try:
            proc = start_server(env, port, log)
        except RunError as exc:
            print(f"run failed: {exc}", file=sys.stderr)
            return 2
        load_before = os.getloadavg()
        try:
            args.pid = proc.pid
            tally, samples, elapsed = asyncio.run(drive(port, key, args))
        except RunError as exc:
            print(f"run failed: {exc}", file=sys.stderr)
            stop_server(proc)
            return 2
        except BaseException:
            stop_server(proc)
            raise
        load_after = os.getloadavg()
        exit_code = stop_server(proc)
        clicks = count_clicks(tmp / "clypt.db")
        server_log = log.read_text(errors="replace")
    return report(
        args, tally, samples, elapsed, exit_code, clicks, (load_before, load_after), server_log
    )


def report(
    args: argparse.Namespace,
    tally: Tally,
    samples: list[tuple[float, int]],
    elapsed: float,
    exit_code: int,
    clicks: int,
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
    server_log: str,
) -> int:
    after_warmup = next(rss for t, rss in samples if t >= args.warmup)
    end = samples[-1][1]
    growth = (end - after_warmup) / after_warmup
    peak = max(rss for _, rss in samples)
    total_ok = sum(tally.ok.values())
    total_errors = sum(tally.errors.values())
    print(
        f"Soak: {elapsed:.0f} s of mixed traffic, {args.workers} workers, "
        f"warm-up {args.warmup:.0f} s, RSS sampled every {args.sample:.0f} s"
    )
    print(
        f"machine: nproc={os.cpu_count()}, Python {platform.python_version()}, "
        f"{platform.system()}; load average (1/5/15 min) "
        f"{'/'.join(f'{x:.2f}' for x in load[0])} before, "
        f"{'/'.join(f'{x:.2f}' for x in load[1])} after"
    )
    print()
    print("| kind | expected | answered as expected | errors |")
    print("| --- | ---: | ---: | ---: |")
    for kind in KINDS:
        print(f"| {kind} | {EXPECTED[kind]} | {tally.ok[kind]:,} | {tally.errors[kind]} |")
    print(f"| total | | {total_ok:,} ({total_ok / elapsed:.0f}/s) | {total_errors} |")
    print()
    print(
        f"RSS: {samples[0][1] / 1024:.1f} MiB at start, {after_warmup / 1024:.1f} MiB after "
        f"warm-up, {end / 1024:.1f} MiB at end (peak {peak / 1024:.1f} MiB); "
        f"growth after warm-up {growth:+.1%}"
    )
    print("RSS samples (s, MiB): " + ", ".join(f"{t:.0f}:{r / 1024:.1f}" for t, r in samples))
    redirects = tally.ok["redirect"]
    print(
        f"SIGTERM: server exit code {exit_code} (-15: re-raised after a graceful shutdown); "
        f"{clicks:,} clicks stored for {redirects:,} 302s"
    )
    for line in tally.samples:
        print(f"  error: {line}")
    failed = []
    if total_errors:
        failed.append(f"{total_errors} errors")
    if growth >= args.max_growth:
        failed.append(f"memory growth {growth:.1%} >= {args.max_growth:.0%}")
    # uvicorn re-raises a caught SIGTERM once it has shut down, so -15 is a clean stop too.
    problems = [line for line in server_log.splitlines() if "Traceback" in line or "ERROR" in line]
    if exit_code not in (0, -signal.SIGTERM) or problems:
        failed.append(f"server exit code {exit_code}, {len(problems)} error lines in its log")
        print(server_log[-2000:], file=sys.stderr)
    if clicks < redirects:
        failed.append(f"{redirects - clicks} clicks missing")
    print(f"result: {'FAILED: ' + '; '.join(failed) if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
