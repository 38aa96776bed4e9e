"""get_analytics on PostgreSQL, this tree against an older one (`--before SRC`) in the same run.

Usage: .venv/bin/python bench/analytics_pg.py --before SRC [--database-url URL] [--clicks 100000]
                                              [--rounds 3] [--runs 10]

A throwaway database (`clypt_bench_analytics`, dropped at the end) on the server of
`--database-url` (default: CLYPT_TEST_DATABASE_URL) is filled by this tree with the clicks of
bench/analytics.py (over 100 links in 10 folders and 10 tags). Then, `--rounds` times with the
sides alternating, each side in a fresh process (its own source tree through PYTHONPATH) runs
the three queries once to warm up and `--runs` times each timed: wall and CPU ms (the Python
process's CPU; the server's is not counted). The report gives the median of each per side and
the after/before ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import anyio

sys.path.insert(0, os.path.dirname(__file__))
from analytics import NOW, QUERIES, P, fill

from clypt_mcp.core.service import ClyptService
from clypt_mcp.store.postgres import PostgresStore

DB = "clypt_bench_analytics"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate(url: str, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {DB}")


async def time_side(url: str, runs: int) -> dict[str, list[tuple[float, float]]]:
    store = PostgresStore(url)
    await store.open()
    service = ClyptService(store, clock=lambda: NOW)
    out: dict[str, list[tuple[float, float]]] = {}
    try:
        for query in QUERIES.values():  # warm-up: pool, plans, the unique_days cache
            await service.get_analytics(P, query)
        for name, query in QUERIES.items():
            for _ in range(runs):
                c0, t0 = time.process_time(), time.perf_counter()
                await service.get_analytics(P, query)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                out.setdefault(name, []).append((wall * 1000, cpu * 1000))
    finally:
        await store.close()
    return out


async def load(url: str, clicks: int) -> None:
    store = PostgresStore(url)
    await store.open()
    try:
        await fill(store, clicks, clicks)
    finally:
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, metavar="SRC")
    parser.add_argument("--database-url", default=os.environ.get("CLYPT_TEST_DATABASE_URL"))
    parser.add_argument("--clicks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--time", default=None, help=argparse.SUPPRESS)  # a child: URL to time
    args = parser.parse_args()
    if args.time:
        print(json.dumps(anyio.run(time_side, args.time, args.runs)))
        return 0
    if not args.database_url:
        parser.error("--database-url or CLYPT_TEST_DATABASE_URL is needed")
    url = with_database(args.database_url, DB)
    recreate(args.database_url)
    try:
        t0 = time.perf_counter()
        anyio.run(load, url, args.clicks)
        print(f"{args.clicks:,} clicks loaded in {time.perf_counter() - t0:.1f} s")
        sides = {"after": dict(os.environ), "before": os.environ | {"PYTHONPATH": args.before}}
        samples: dict[tuple[str, str], list[list[float]]] = {}
        load_before = os.getloadavg()[0]
        for r in range(args.rounds):
            for side in list(sides)[:: 1 if r % 2 == 0 else -1]:
                argv = [sys.executable, __file__, "--before", args.before, "--time", url,
                        "--runs", str(args.runs)]  # fmt: skip
                out = subprocess.run(
                    argv, env=sides[side], capture_output=True, text=True, check=True
                )
                for q, values in json.loads(out.stdout).items():
                    samples.setdefault((q, side), []).extend(values)
        print(f"1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
        print("| query | before ms | after ms | after/before | before CPU ms | after CPU ms |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for q in QUERIES:
            wall = {s: statistics.median(w for w, _ in samples[q, s]) for s in sides}
            cpu = {s: statistics.median(c for _, c in samples[q, s]) for s in sides}
            print(f"| {q} | {wall['before']:.2f} | {wall['after']:.2f} | "
                  f"{wall['after'] / wall['before']:.2f} | {cpu['before']:.2f} | "
                  f"{cpu['after']:.2f} |")  # fmt: skip
    finally:
        recreate(args.database_url, drop_only=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
