"""links import --verify never calls into private networks: which addresses its client refuses."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx2
import pytest

from clypt_mcp import verify
from clypt_mcp.verify import old_destination, refused

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("address", "loopback_allowed", "refuse"),
    [
        ("93.184.215.14", False, False),  # a public address
        ("2606:4700::6810:84e5", False, False),
        ("10.1.2.3", False, True),
        ("172.16.0.9", False, True),
        ("192.168.1.1", False, True),
        ("169.254.169.254", False, True),  # cloud metadata
        ("100.64.0.1", False, True),  # carrier-grade NAT
        ("0.0.0.0", False, True),
        ("224.0.0.1", False, True),
        ("fd00::1", False, True),
        ("fe80::1%eth0", False, True),
        ("::ffff:10.0.0.1", False, True),  # IPv4-mapped private
        ("127.0.0.1", False, True),
        ("::1", False, True),
        ("127.0.0.1", True, False),  # CLYPT_DEV_ALLOW_LOOPBACK=true
        ("::1", True, False),
        ("10.1.2.3", True, True),  # loopback only, never the rest
    ],
)
def test_refused_addresses(address: str, loopback_allowed: bool, refuse: bool) -> None:
    assert refused(address, loopback_allowed) is refuse


async def test_a_host_naming_loopback_is_refused_before_any_request() -> None:
    async with httpx2.AsyncClient() as http:
        with pytest.raises(ValueError, match="private or local address"):
            await old_destination(http, "http://localhost:9/x", allow_loopback=False)
        with pytest.raises(ValueError, match="not an http"):
            await old_destination(http, "ftp://example.com/x", allow_loopback=False)


class _Redirector(BaseHTTPRequestHandler):
    """Answers every HEAD with a 301 to the destination, and remembers the Host it was sent."""

    hosts: ClassVar[list[str]] = []

    def do_HEAD(self) -> None:
        self.hosts.append(self.headers.get("host", ""))
        self.send_response(301)
        self.send_header("location", "https://example.com/new")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


async def test_the_request_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name the system cannot resolve, checked as 127.0.0.1: the HEAD reaches 127.0.0.1 with
    the name in Host, so no second DNS answer (a rebinding one) is ever asked for."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    asked: list[str] = []

    async def checked_once(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(verify, "resolve", checked_once)
    try:
        url = f"http://old-short.invalid:{port}/abc"
        async with httpx2.AsyncClient(follow_redirects=False, timeout=5) as http:
            assert await old_destination(http, url, True) == "https://example.com/new"
            with pytest.raises(ValueError, match="private or local"):
                await old_destination(http, url, False)  # loopback refused unless allowed
    finally:
        server.shutdown()
        server.server_close()
    assert asked == ["old-short.invalid", "old-short.invalid"]
    assert _Redirector.hosts == [f"old-short.invalid:{port}"]
