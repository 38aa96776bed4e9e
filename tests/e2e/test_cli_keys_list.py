"""`clypt-mcp keys list` (#21 item 5): each key's expiry, and `expired` once it has passed,
never `active`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def cli(tmp_path: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "CLYPT_DATABASE_URL": f"sqlite:///{tmp_path / 'clypt.db'}"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "clypt_mcp", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return done.stdout


def states(listing: str) -> dict[str, tuple[str, str]]:
    """name -> (state, expires column) of each line of `keys list`."""
    out = {}
    for line in listing.splitlines():
        cols = line.split("\t")
        out[cols[3]] = (cols[4], cols[6])
    return out


def test_keys_list_shows_expiry_and_expired(tmp_path: Path) -> None:
    when = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
    cli(tmp_path, "keys", "create", "--name", "brief", "--expires", when.isoformat())
    cli(tmp_path, "keys", "create", "--name", "lasting")
    before = states(cli(tmp_path, "keys", "list"))
    assert before["brief"] == ("active", f"expires {when.isoformat()}")
    assert before["lasting"] == ("active", "expires never")
    time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()) + 0.2)
    after = states(cli(tmp_path, "keys", "list"))
    assert after["brief"] == ("expired", f"expires {when.isoformat()}")
    assert after["lasting"][0] == "active"
