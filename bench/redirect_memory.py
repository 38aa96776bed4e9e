"""Memory of `clypt-mcp serve` over a million redirects (issue #20: RSS < 100 MB after 1M).

Usage: .venv/bin/python bench/redirect_memory.py [--redirects N] [--links L] [--chunk S]
                                                 [--connections C] [--limit-mib M]

One real `clypt-mcp serve` (one uvicorn worker, the embedded SQLite default) runs on loopback
over a fresh store holding L links (1,000 by default). `wrk` (Debian package `wrk`; required
here) sends redirects in chunks of S seconds until N have been answered: each request takes the
next of the L codes and one of several real browser user agents and referrers, so the link
cache, the visitor cache and the click rollups see many keys, not one. The per-address click
rate is lifted (CLYPT_CLICK_RATE) so every visit is a stored click: the heaviest case for the
recorder. The server's resident set (VmRSS from /proc) is read after start, after the first
chunk (warm-up) and after every chunk; the report gives the curve and the figure after N.
At the end `serve` gets SIGTERM and the clicks in the store are counted against the redirects
wrk saw answered.

Exit status: 0 when RSS after N redirects is under --limit-mib (100) and no click was lost, 1
when not, 2 when a run failed. Only loopback; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

# Helpers shared with redirect_throughput.py (this folder is on sys.path when a bench runs).
from redirect_throughput import HOST, RunError, count_clicks, free_port, stop_group

USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
)
REFERERS = (
    "https://news.example.org/today",
    "https://www.example.com/search?q=spring",
    "https://mail.example.net/",
    "https://social.example/feed",
    "",
)


def code_of(i: int) -> str:
    return f"m{i:05d}"


async def make_links(db: Path, links: int) -> None:
    from clypt_mcp.core.service import ClyptService
    from clypt_mcp.models import LinkCreate, Principal
    from clypt_mcp.store.sqlite import SqliteStore

    store = SqliteStore(db)
    await store.open()
    try:
        service = ClyptService(store, base_url="http://127.0.0.1:1")
        principal = Principal(workspace_id="default")
        for i in range(links):
            data = LinkCreate(url=f"https://example.com/page/{i}?ref=mem", code=code_of(i))
            await service.create_link(principal, data)
    finally:
        await store.close()


def wrk_script(path: Path, links: int) -> None:
    """A wrk Lua script that walks the codes and rotates agents and referrers."""
    agents = ", ".join(f"[[{a}]]" for a in USER_AGENTS)
    referers = ", ".join(f"[[{r}]]" for r in REFERERS)
    path.write_text(
        f"""
local agents = {{{agents}}}
local referers = {{{referers}}}
local n = 0
request = function()
  n = n + 1
  local headers = {{["User-Agent"] = agents[(n % #agents) + 1]}}
  local ref = referers[(n % #referers) + 1]
  if ref ~= "" then headers["Referer"] = ref end
  return wrk.format("GET", string.format("/m%05d", n % {links}), headers)
end
"""
    )


def run_wrk(port: int, script: Path, seconds: int, connections: int) -> int:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    argv += ["-s", str(script), f"http://{HOST}:{port}/"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    total = out.stdout.split(" requests in", 1)[0].rsplit(None, 1)[-1] if out.stdout else ""
    if out.returncode != 0 or not total.isdigit():
        raise RunError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    if "Non-2xx or 3xx responses" in out.stdout or "Socket errors" in out.stdout:
        raise RunError(f"wrk saw errors:\n{out.stdout}")
    return int(total)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RunError(f"no VmRSS for pid {pid}")


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunError(f"serve exited at start:\n{log.read_text()[-2000:]}")
        try:
            with socket.create_connection((HOST, port), timeout=2) as s:
                s.sendall(
                    f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
                )
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RunError(f"serve did not answer within 60 s:\n{log.read_text()[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redirects", type=int, default=1_000_000, help="redirects (1,000,000)")
    parser.add_argument("--links", type=int, default=1000, help="links in the store (1,000)")
    parser.add_argument("--chunk", type=int, default=30, help="seconds per wrk run (30)")
    parser.add_argument("--connections", type=int, default=32, help="open connections (32)")
    parser.add_argument("--limit-mib", type=float, default=100.0, help="pass mark (100 MiB)")
    parser.add_argument("--max-minutes", type=float, default=30.0, help="give up after (30)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed (Debian package wrk)", file=sys.stderr)
        return 2
    if not 1 <= args.links <= 99_999 or args.redirects < 1 or args.chunk < 1:
        parser.error("1 <= --links <= 99999, --redirects >= 1, --chunk >= 1")

    with tempfile.TemporaryDirectory(prefix="clypt-bench-") as name:
        tmp = Path(name)
        db = tmp / "clypt.db"
        anyio.run(make_links, db, args.links)
        script = tmp / "walk.lua"
        wrk_script(script, args.links)
        port = free_port()
        env = os.environ | {
            "HOME": str(tmp),
            "CLYPT_DATABASE_URL": f"sqlite:///{db}",
            "CLYPT_BASE_URL": f"http://{HOST}:{port}",
            "CLYPT_CLICK_RATE": "100000000/minute",
        }
        log = tmp / "serve.log"
        argv = [sys.executable, "-m", "clypt_mcp", "serve", "--port", str(port)]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        samples: list[tuple[int, float]] = []
        answered = 0
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        try:
            wait_ready(proc, port, log)
            samples.append((0, rss_mib(proc.pid)))
            deadline = started + args.max_minutes * 60
            while answered < args.redirects:
                if time.monotonic() > deadline:
                    raise RunError(f"only {answered} redirects in {args.max_minutes} minutes")
                answered += run_wrk(port, script, args.chunk, args.connections)
                samples.append((answered, rss_mib(proc.pid)))
                print(f"  {answered:>9,} redirects: RSS {samples[-1][1]:.1f} MiB", file=sys.stderr)
        except RunError as exc:
            print(f"run failed: {exc}", file=sys.stderr)
            stop_group(proc, 60)
            return 2
        elapsed = time.monotonic() - started
        load_after = os.getloadavg()[0]
        code = stop_group(proc, 120)
        clicks = count_clicks(db)

    final = samples[-1][1]
    print(
        f"RSS of `clypt-mcp serve` (1 worker, SQLite) over {answered:,} redirects to {args.links:,}"
        f" links, {len(USER_AGENTS)} agents x {len(REFERERS)} referrers, {args.connections}"
        f" connections, wrk chunks of {args.chunk} s; {elapsed / 60:.1f} min"
    )
    print(
        f"machine: nproc={os.cpu_count()}, Python {platform.python_version()}; 1-min load"
        f" average {load_before:.2f} before, {load_after:.2f} after"
    )
    print("RSS (redirects: MiB): " + ", ".join(f"{n:,}: {r:.1f}" for n, r in samples))
    warm = samples[1][1] if len(samples) > 1 else samples[0][1]
    print(
        f"after start {samples[0][1]:.1f} MiB, after the first chunk {warm:.1f} MiB, after"
        f" {answered:,} redirects {final:.1f} MiB (limit {args.limit_mib:.0f}); peak"
        f" {max(r for _, r in samples):.1f} MiB"
    )
    print(f"SIGTERM exit {code}; clicks stored {clicks:,} for {answered:,} answered redirects")
    ok = final < args.limit_mib and clicks >= answered
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
