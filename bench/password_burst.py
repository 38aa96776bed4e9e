"""Redirect latency while password links are being hashed (issue 21, acceptance 5).

Usage: .venv/bin/python bench/password_burst.py [--bulks 30] [--links 100] [--samples 1000]

Starts `clypt-mcp serve` on a fresh SQLite file on 127.0.0.1, times `--samples` sequential
redirects of one link at rest (after a warm-up), then starts `--bulks` parallel `POST
/api/v1/links/bulk` requests of `--links` password links each and times the same number of
redirects while they run. Prints both medians, their ratio and the password links made during
the second sample (so the hashing was really going on). Loopback only; the bulk requests are
abandoned when the sample ends and the server is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.http.live import make_key, start_serve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bulks", type=int, default=30)
    parser.add_argument("--links", type=int, default=100)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    db = Path(tempfile.mkdtemp(prefix="clypt-bench-")) / "clypt.db"
    key = make_key(db)
    proc, origin = start_serve(db)
    auth = {"authorization": f"Bearer {key}"}
    try:
        with httpx2.Client(base_url=origin, headers=auth, timeout=30) as api:
            code = api.post("/api/v1/links", json={"url": "https://example.com/"}).json()["code"]
        with httpx2.Client(base_url=origin, timeout=10) as http:

            def sample(n: int) -> float:
                times = []
                for _ in range(n):
                    start = time.perf_counter()
                    assert http.get(f"/{code}").status_code == 302
                    times.append(time.perf_counter() - start)
                    time.sleep(0.01)
                return statistics.median(times)

            sample(50)
            idle = sample(args.samples)

            def bulk(i: int) -> None:
                items = [
                    {"url": f"https://example.com/{i}/{j}", "password": "open sesame"}
                    for j in range(args.links)
                ]
                with (
                    httpx2.Client(base_url=origin, headers=auth, timeout=3600) as client,
                    contextlib.suppress(httpx2.TransportError),  # the server stopped first
                ):
                    client.post("/api/v1/links/bulk", json={"links": items})

            for i in range(args.bulks):
                threading.Thread(target=bulk, args=(i,), daemon=True).start()
            time.sleep(1)
            busy = sample(args.samples)
        made = (
            sqlite3.connect(db)
            .execute("SELECT count(*) FROM links WHERE password_hash IS NOT NULL")
            .fetchone()[0]
        )
        print(
            f"redirect p50 at rest {idle * 1000:.2f} ms; during {args.bulks} bulk creates of "
            f"{args.links} password links {busy * 1000:.2f} ms (x{busy / idle:.2f}); "
            f"{made} password links made meanwhile"
        )
    finally:
        proc.kill()
        proc.wait(30)


if __name__ == "__main__":
    main()
