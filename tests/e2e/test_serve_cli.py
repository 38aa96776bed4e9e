"""`clypt-mcp serve` as a real process: health, guide, REST with a CLI-made key, a redirect."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.http.live import free_port


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CLYPT_DATABASE_URL": f"sqlite:///{tmp_path / 'clypt.db'}",
        "CLYPT_BASE_URL": f"http://127.0.0.1:{port}",
    }


def test_serve_answers_health_guide_api_and_redirects(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, port)
    made = subprocess.run(
        [sys.executable, "-m", "clypt_mcp", "keys", "create", "--name", "ci"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    key = made.stdout.strip()
    assert key.startswith("clypt_") and key not in made.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "clypt_mcp", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    origin = f"http://127.0.0.1:{port}"
    try:
        with httpx2.Client(base_url=origin, timeout=5) as http:
            for _ in range(300):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx2.TransportError:
                    time.sleep(0.05)
            else:
                raise AssertionError("serve did not start")
            assert http.get("/llms.txt").text.startswith("# Clypt")
            auth = {"authorization": f"Bearer {key}"}
            r = http.post("/api/v1/links", json={"url": "https://example.com/s", "code": "srv"},
                          headers=auth)  # fmt: skip
            assert r.status_code == 201, r.text
            assert r.json()["shortUrl"] == f"{origin}/srv"
            hop = http.get("/srv", follow_redirects=False)
            assert hop.status_code == 302 and hop.headers["location"] == "https://example.com/s"
            assert http.get("/api/v1/links", headers={}).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        proc.stderr.close()
    assert "Traceback" not in err
    assert f"serving {origin}" in err


def test_serve_refuses_remote_mode_with_one_line(tmp_path: Path) -> None:
    env = _env(tmp_path, 8080) | {"CLYPT_API_URL": "http://x.test", "CLYPT_API_KEY": "clypt_x"}
    done = subprocess.run(
        [sys.executable, "-m", "clypt_mcp", "serve"], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "CLYPT_API_URL" in done.stderr
