"""What a rate-limit check costs: counted in memory, in SQLite, in PostgreSQL.

Usage: .venv/bin/python bench/ratelimit_cost.py [--checks N] [--rounds R] [--database-url URL]

Each round times N sequential `limiter.check(key)` calls (one key, a limit it never reaches) on
each limiter, in one process and event loop, as `auth.protected` makes them once per keyed REST
request: `RateLimiter` (a dictionary), `StoreRateLimiter` on a fresh SQLite file (an upsert in
`BEGIN IMMEDIATE`, on the store's worker thread) and, with `--database-url` or
CLYPT_TEST_DATABASE_URL, `StoreRateLimiter` on a fresh PostgreSQL database (one pooled round
trip). Reports the median µs per check over the rounds. Loopback only; bounded by N x R.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import anyio

from clypt_mcp.http.ratelimit import Limiter, RateLimiter, StoreRateLimiter
from clypt_mcp.store.base import Store
from clypt_mcp.store.sqlite import SqliteStore

LIMIT = 10**9


async def per_check(limiter: Limiter, checks: int) -> float:
    """µs per check over `checks` calls."""
    key = f"bench_{uuid.uuid4().hex}"
    start = time.perf_counter()
    for _ in range(checks):
        verdict = await limiter.check(key)
        assert verdict.allowed
    return (time.perf_counter() - start) / checks * 1e6


async def run(checks: int, rounds: int, pg_admin: str | None, tmp: Path) -> None:
    stores: dict[str, Store] = {"SQLite": SqliteStore(tmp / "clypt.db")}
    pg_name = None
    if pg_admin:
        import psycopg

        from clypt_mcp.store.postgres import PostgresStore

        pg_name = f"clypt_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg_admin, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {pg_name}")
        stores["PostgreSQL"] = PostgresStore(_with_database(pg_admin, pg_name))
    try:
        limiters: dict[str, Limiter] = {"in memory": RateLimiter(LIMIT, 3600)}
        for name, store in stores.items():
            await store.open()
            limiters[f"store, {name}"] = StoreRateLimiter(store, LIMIT, 3600)
        results: dict[str, list[float]] = {name: [] for name in limiters}
        for limiter in limiters.values():
            await per_check(limiter, min(checks, 500))  # warm-up
        for r in range(rounds):
            for name, limiter in limiters.items():
                results[name].append(await per_check(limiter, checks))
            print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    finally:
        for store in stores.values():
            await store.close()
        if pg_admin and pg_name:
            import psycopg

            with psycopg.connect(pg_admin, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")
    print(f"Rate-limit check cost, {rounds} rounds x {checks} sequential checks, one key")
    print(f"machine: nproc={os.cpu_count()}")
    print()
    print("| counted | median µs/check | min | max |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in results.items():
        print(
            f"| {name} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |"
        )


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=5000, help="checks per round (5000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (5)")
    parser.add_argument("--database-url", default=os.environ.get("CLYPT_TEST_DATABASE_URL"))
    args = parser.parse_args()
    if not 1 <= args.checks <= 1_000_000 or not 1 <= args.rounds <= 100:
        parser.error("1 <= --checks <= 1000000 and 1 <= --rounds <= 100")
    with tempfile.TemporaryDirectory(prefix="clypt-bench-") as name:
        anyio.run(run, args.checks, args.rounds, args.database_url, Path(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
