"""The crash-safety run at full size: 1,000 concurrent creates and updates over stdio,
SIGKILL after 600 answers, then every acknowledged write is checked.

Usage: .venv/bin/python bench/crash_safety.py [--writes 1000] [--kill-after 600] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e import crash


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--kill-after", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "clypt.db"
            outcome = crash.run(db, args.writes, args.kill_after)
            checked = crash.verify(db, outcome)
            print(f"run {run}: sent {outcome.sent}, answered {outcome.answered}, "
                  f"errors {len(outcome.errors)}, checked {checked}")  # fmt: skip
            if outcome.errors:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
