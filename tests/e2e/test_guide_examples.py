"""Every curl example in llms.txt and llms-full.txt runs as written, in order, against a real
`clypt-mcp serve`, with a key made by the guide's own recipe (`clypt-mcp keys create …`)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from clypt_mcp.assets import full_guide_text, guide_text
from tests.http.live import free_port

# curl exits non-zero on an HTTP error status, still printing the body (curl >= 7.76).
STRICT_CURL = 'curl() { command curl --fail-with-body --max-time 30 "$@"; }\n'


def shell_commands(text: str) -> list[str]:
    """The commands of the ```bash blocks, continuation lines joined."""
    commands: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        current = ""
        for line in block.splitlines():
            if line.endswith("\\"):
                current += line[:-1]
                continue
            commands.append((current + line).strip())
            current = ""
    return [c for c in commands if c]


def recipe(commands: list[str]) -> list[str]:
    """The arguments of the guide's `clypt-mcp keys create` (inside `$(…)`)."""
    for command in commands:
        found = re.search(r"\$\(clypt-mcp (keys create [^)]*)\)", command)
        if found:
            return shlex.split(found.group(1))
    raise AssertionError("the guide has no `clypt-mcp keys create` recipe")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "CLYPT_DATABASE_URL": f"sqlite:///{tmp_path / 'clypt.db'}",
        "CLYPT_BASE_URL": base,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "clypt_mcp", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with httpx2.Client(base_url=base, timeout=5) as http:
            for _ in range(600):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx2.TransportError:
                    time.sleep(0.05)
            else:
                raise AssertionError("serve did not start")
        yield base, env
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.skipif(
    shutil.which("curl") is None, reason="curl is not installed: apt-get install curl"
)
@pytest.mark.parametrize("name", ["llms.txt", "llms-full.txt"])
def test_every_curl_example_succeeds_as_written(
    name: str, server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    text = guide_text() if name == "llms.txt" else full_guide_text()
    commands = shell_commands(text)
    base, env = server
    made = subprocess.run(
        [sys.executable, "-m", "clypt_mcp", *recipe(shell_commands(guide_text()))],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    key = made.stdout.strip()
    assert key.startswith("clypt_")
    run_env = {**env, "BASE": base, "CLYPT_API_KEY": key}
    curls = [c for c in commands if c.startswith("curl ")]
    assert len(curls) >= 4, curls
    for command in curls:
        done = subprocess.run(
            ["bash", "-c", STRICT_CURL + command],
            env=run_env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n-> {done.stdout[:500]} {done.stderr[:500]}"
