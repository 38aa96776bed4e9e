"""get_analytics on PostgreSQL: a small store against a large one, or this tree against an older
one (`--before SRC`), in the same run.

Usage: .venv/bin/python bench/analytics_pg.py [--database-url URL] [--small 10000]
                                              [--large 1000000] [--runs 30] [--repeat 1]
       .venv/bin/python bench/analytics_pg.py --before SRC [--clicks 100000] [--rounds 3]
                                              [--runs 10]

Throwaway databases (`clypt_bench_analytics…`, dropped at the end) on the server of
`--database-url` (default: CLYPT_TEST_DATABASE_URL) are filled by this tree with the clicks of
bench/analytics.py (over 100 links in 10 folders and 10 tags).

Without `--before` (the acceptance run of docs/benchmarks.md): one store of `--small` clicks
and one of `--large`; the first query of each kind is timed once (cold: a folder's and a tag's
fill their day cache), then `--runs` rounds time the three queries on both stores, interleaved
so that machine noise hits both alike; `--repeat` does the timed rounds again that many times
(the stores loaded once). The report gives each repeat's medians and large/small ratio and the
median ratio over the repeats; the target is at most 1.5x and under 50 ms.

With `--before SRC`: `--rounds` times with the sides alternating, each side in a fresh process
(its own source tree through PYTHONPATH) runs the three queries once to warm up and `--runs`
times each timed: wall and CPU ms (the Python process's CPU; the server's is not counted). The
report gives the median of each per side and the after/before ratio of the medians.
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


def recreate(url: str, drop_only: bool = False, name: str = DB) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {name}")


async def time_side(url: str, runs: int) -> dict[str, list[tuple[float, float]]]:
    store = PostgresStore(url)
    await store.open()
    service = ClyptService(store, clock=lambda: NOW)
    out: dict[str, list[tuple[float, float]]] = {}
    try:
        for query in QUERIES.values():  # warm-up: pool, plans, the per-set day cache
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


async def time_sizes(
    urls: dict[str, str], runs: int, cold: bool
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Cold (printed, when `cold`), then `runs` interleaved rounds of each query on each
    store: (wall, CPU) ms."""
    stores = {name: PostgresStore(url) for name, url in urls.items()}
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        services = {}
        for name, store in stores.items():
            await store.open()
            services[name] = ClyptService(store, clock=lambda: NOW)
        for name, service in services.items():
            for q, query in QUERIES.items():
                t0 = time.perf_counter()
                await service.get_analytics(P, query)
                if cold:
                    ms = (time.perf_counter() - t0) * 1000
                    print(f"{name}: first get_analytics(30d, {q}) {ms:.2f} ms")
        for service in services.values():  # warm-up: pool, plans
            for query in QUERIES.values():
                await service.get_analytics(P, query)
        for _ in range(runs):
            for q, query in QUERIES.items():
                for name, service in services.items():
                    c0, t0 = time.process_time(), time.perf_counter()
                    await service.get_analytics(P, query)
                    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                    out.setdefault((name, q), []).append((wall * 1000, cpu * 1000))
    finally:
        for store in stores.values():
            await store.close()
    return out


def sizes(args: argparse.Namespace) -> int:
    """The acceptance run: `--small` against `--large` clicks, same run, interleaved."""
    counts = {"small": args.small, "large": args.large}
    urls = {name: with_database(args.database_url, f"{DB}_{name}") for name in counts}
    for name in counts:
        recreate(args.database_url, name=f"{DB}_{name}")
    try:
        for name, count in counts.items():
            t0 = time.perf_counter()
            anyio.run(load, urls[name], count)
            print(f"{name}: {count:,} clicks loaded in {time.perf_counter() - t0:.1f} s")
        ratios: dict[str, list[float]] = {q: [] for q in QUERIES}
        largest: dict[str, list[float]] = {q: [] for q in QUERIES}
        for r in range(args.repeat):
            load_before = os.getloadavg()[0]
            samples = anyio.run(time_sizes, urls, args.runs, r == 0)
            print(f"repeat {r + 1}: 1-min load average {load_before:.2f} before, "
                  f"{os.getloadavg()[0]:.2f} after")  # fmt: skip
            print("| query | small ms | large ms | large/small | small CPU ms | large CPU ms |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for q in QUERIES:
                wall = {n: statistics.median(w for w, _ in samples[n, q]) for n in counts}
                cpu = {n: statistics.median(c for _, c in samples[n, q]) for n in counts}
                ratios[q].append(wall["large"] / wall["small"])
                largest[q].append(wall["large"])
                print(f"| {q} | {wall['small']:.2f} | {wall['large']:.2f} | "
                      f"{wall['large'] / wall['small']:.2f} | {cpu['small']:.2f} | "
                      f"{cpu['large']:.2f} |")  # fmt: skip
        ok = True
        for q in QUERIES:
            ratio, ms = statistics.median(ratios[q]), statistics.median(largest[q])
            met = ratio <= 1.5 and ms < 50
            ok = ok and met
            print(f"{q}: median ratio over {args.repeat} repeat(s) {ratio:.2f}, large median "
                  f"{ms:.2f} ms:", "met" if met else "MISSED")  # fmt: skip
    finally:
        for name in counts:
            recreate(args.database_url, drop_only=True, name=f"{DB}_{name}")
    return 0 if ok else 1


async def load(url: str, clicks: int) -> None:
    store = PostgresStore(url)
    await store.open()
    try:
        await fill(store, clicks, clicks)
    finally:
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=None, metavar="SRC")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("CLYPT_TEST_DATABASE_URL"))
    parser.add_argument("--clicks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--time", default=None, help=argparse.SUPPRESS)  # a child: URL to time
    args = parser.parse_args()
    if args.time:
        print(json.dumps(anyio.run(time_side, args.time, args.runs)))
        return 0
    if not args.database_url:
        parser.error("--database-url or CLYPT_TEST_DATABASE_URL is needed")
    if args.before is None:
        args.runs = args.runs or 30
        return sizes(args)
    args.runs = args.runs or 10
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
