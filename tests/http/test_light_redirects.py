"""`serve`'s redirect path does not load the MCP SDK and what it brings (#20: RSS < 100 MB).

A fresh interpreter builds the app exactly as `serve` does (`ServedApp`: store, warm-up,
lifespan), answers a redirect, /healthz, the home page and the dashboard's sign-in page over
raw ASGI (no HTTP client library, which would itself load modules), and reports which of the
heavy packages are in `sys.modules`. Then it asks for the OAuth metadata document, which must
load them: the check can see them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("mcp", "opentelemetry", "cryptography", "httpx2")

SCRIPT = r"""
import json, sys
from pathlib import Path

import anyio

from clypt_mcp.config import Settings
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.serve import ServedApp
from clypt_mcp.models import LinkCreate, Principal
from clypt_mcp.store.sqlite import SqliteStore

HEAVY = json.loads(sys.argv[2])
db = Path(sys.argv[1])


async def request(app, path):
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
        "headers": [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"Mozilla/5.0 Firefox/121.0")],
    }
    sent = []
    received = False

    async def receive():
        nonlocal received
        if received:
            await anyio.sleep_forever()
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def loaded():
    return sorted(name for name in HEAVY if name in sys.modules)


async def main():
    store = SqliteStore(db)
    await store.open()
    service = ClyptService(store, base_url="http://127.0.0.1:8080")
    await service.create_link(
        Principal(workspace_id="default"), LinkCreate(url="https://example.com/", code="light")
    )
    await store.close()
    app = ServedApp(Settings(database_url=f"sqlite:///{db}", base_url="http://127.0.0.1:8080"))
    to_app, from_test = anyio.create_memory_object_stream(4)
    to_test, from_app = anyio.create_memory_object_stream(4)
    report = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(app, {"type": "lifespan"}, from_test.receive, to_test.send)
        await to_app.send({"type": "lifespan.startup"})
        assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        paths = ("/light", "/healthz", "/", "/app/signin")
        report["statuses"] = [await request(app, p) for p in paths]
        report["after_redirects"] = loaded()
        report["metadata"] = await request(app, "/.well-known/oauth-authorization-server")
        report["after_oauth"] = loaded()
        await to_app.send({"type": "lifespan.shutdown"})
        assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"
    print(json.dumps(report))


anyio.run(main)
"""


def test_serve_answers_redirects_without_loading_the_mcp_sdk(tmp_path: Path) -> None:
    env = os.environ | {"HOME": str(tmp_path)}
    env.pop("CLYPT_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "clypt.db"), json.dumps(HEAVY)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    redirect, health, home, dashboard = report["statuses"]
    assert redirect in (301, 302, 307, 308) and health == home == dashboard == 200, report
    assert report["after_redirects"] == [], report
    # the first OAuth request builds the authorization server, and the check sees the SDK come
    assert report["metadata"] == 200
    assert {"mcp", "opentelemetry", "cryptography"} <= set(report["after_oauth"]), report
