"""The crash-safety run at full size: 1,000 concurrent creates and updates, SIGKILL after 600
answers, then every acknowledged write is checked. Over stdio (a stdio server, raw JSON-RPC) and
over HTTP (`clypt-mcp serve`, the REST API on loopback, 32 connections).

Usage: .venv/bin/python bench/crash_safety.py [--writes 1000] [--kill-after 600] [--runs 3]
                                             [--surface stdio|serve|both]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e import crash
from tests.http.live import make_key


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--kill-after", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--surface", choices=["stdio", "serve", "both"], default="both")
    args = parser.parse_args()
    surfaces = ["stdio", "serve"] if args.surface == "both" else [args.surface]
    failed = False
    for run in range(1, args.runs + 1):
        for surface in surfaces:
            with tempfile.TemporaryDirectory() as tmp:
                db = Path(tmp) / "clypt.db"
                if surface == "stdio":
                    outcome = crash.run(db, args.writes, args.kill_after)
                else:
                    key = make_key(db)
                    outcome = crash.run_serve(db, key, args.writes, args.kill_after)
                checked = crash.verify(db, outcome)
                print(f"run {run} {surface}: sent {outcome.sent}, answered {outcome.answered}, "
                      f"errors {len(outcome.errors)}, checked {checked}")  # fmt: skip
                failed = failed or bool(outcome.errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
