"""The crash-safety run at full size: 1,000 concurrent creates and updates, SIGKILL after 600
answers, then every acknowledged write is checked. Over stdio (a stdio server, raw JSON-RPC) and
over HTTP (`clypt-mcp serve`, the REST API on loopback, 32 connections), on SQLite; `serve-pg`
runs `serve` on a fresh schema of the PostgreSQL server `--database-url` names (default:
CLYPT_TEST_DATABASE_URL), checked with amcheck as well.

Usage: .venv/bin/python bench/crash_safety.py [--writes 1000] [--kill-after 600] [--runs 3]
                                             [--surface stdio|serve|serve-pg|both|all]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e import crash
from tests.http.live import make_key
from tests.store.pg import PgServer

SURFACES = {
    "stdio": ["stdio"],
    "serve": ["serve"],
    "serve-pg": ["serve-pg"],
    "both": ["stdio", "serve"],
    "all": ["stdio", "serve", "serve-pg"],
}


def run_once(
    surface: str, db: Path, args: argparse.Namespace
) -> tuple[crash.Outcome, dict[str, int]]:
    if surface == "stdio":
        outcome = crash.run(db, args.writes, args.kill_after)
        return outcome, crash.verify(db, outcome)
    if surface == "serve":
        outcome = crash.run_serve(db, make_key(db), args.writes, args.kill_after)
        return outcome, crash.verify(db, outcome)
    if not args.database_url:
        raise SystemExit("serve-pg needs --database-url or CLYPT_TEST_DATABASE_URL")
    server = PgServer(args.database_url)  # a database of its own, dropped afterwards
    try:
        url = server.schema()
        key = make_key(db, CLYPT_DATABASE_URL=url)
        outcome = crash.run_serve(db, key, args.writes, args.kill_after, database_url=url)
        return outcome, crash.verify_postgres(url, outcome)
    finally:
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--kill-after", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--surface", choices=list(SURFACES), default="both")
    parser.add_argument("--database-url", default=os.environ.get("CLYPT_TEST_DATABASE_URL"))
    args = parser.parse_args()
    failed = False
    for run in range(1, args.runs + 1):
        for surface in SURFACES[args.surface]:
            with tempfile.TemporaryDirectory() as tmp:
                outcome, checked = run_once(surface, Path(tmp) / "clypt.db", args)
                print(f"run {run} {surface}: sent {outcome.sent}, answered {outcome.answered}, "
                      f"errors {len(outcome.errors)}, checked {checked}")  # fmt: skip
                failed = failed or bool(outcome.errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
