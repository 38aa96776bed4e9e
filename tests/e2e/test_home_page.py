"""The home page of a real `clypt-mcp serve`: its desktop snippet names the program as started."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from html import unescape
from pathlib import Path

import httpx2

from tests.http.live import free_port, serve_env


def test_the_desktop_snippet_names_the_running_program_by_the_path_it_was_started_with(
    tmp_path: Path,
) -> None:
    real = Path(sys.executable).parent / "clypt-mcp"
    assert real.exists(), f"{real} is not installed (pip install -e .)"
    link = tmp_path / "bin" / "clypt-mcp"  # a symlink: the snippet must keep it, not resolve it
    link.parent.mkdir()
    link.symlink_to(real)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = serve_env(tmp_path / "clypt.db") | {"CLYPT_BASE_URL": "https://go.example"}
    proc = subprocess.Popen(
        [str(link), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        page = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                page = httpx2.get(f"{origin}/", timeout=2)
                break
            except httpx2.TransportError:
                time.sleep(0.1)
        assert page is not None and page.status_code == 200
        found = re.search(r'<pre id="desktop-config"><code>(.*?)</code></pre>', page.text, re.S)
        assert found, page.text
        config = json.loads(unescape(found.group(1)))
        assert config["mcpServers"]["clypt"]["command"] == str(link)
        assert "https://go.example/mcp" in page.text
        markdown = httpx2.get(f"{origin}/", headers={"Accept": "text/markdown"}, timeout=5)
        assert f'"command": "{link}"' in markdown.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
