"""What one `serve` process takes from a client, and the uvicorn protocol that holds it to that.

`serve` passes these to uvicorn through `clypt_mcp.http.serve.uvicorn_options`:

- `MAX_HEADER_BYTES`: the request line and headers together; a longer block (a huge query string,
  an oversized cookie) is answered 431 (400 while it is still arriving) and the connection
  closed, before the app sees it. h11's own limit covers only a block still incomplete: one that
  arrives whole in a single read (up to 256 KiB) passes it, so the guard below measures again.
- `KEEP_ALIVE_SECONDS`: how long a connection may sit idle between requests.
- `REQUEST_SECONDS`: how long one request may take to arrive, from its first byte (or, for the
  first request, from the connection) to the end of its body. A client that trickles its headers
  or its body (slowloris), or connects and says nothing, is disconnected then; so is one that
  keeps streaming a body the app has already answered (a 413), which uvicorn would otherwise
  read and throw away for as long as it kept coming. uvicorn has no such limit of its own.
- `MAX_CONCURRENCY`: open connections (or requests in progress) before new requests get 503
  at once rather than everything slowing down.
- `MAX_PER_CLIENT`: open connections from one client address (trusted proxies, which carry
  many clients, are not held to it). One more is answered 503 with `Retry-After` and closed
  before it is read, so one client holding sockets open cannot take `MAX_CONCURRENCY` from
  everyone else. The addresses trusted are `CLYPT_TRUSTED_PROXIES`, given by `configure`
  (or read from the environment in `serve --workers N`'s worker processes).
- `READ_BYTES`: the most one read from a connection takes. asyncio's own reads allocate a
  256 KiB buffer each, above glibc's mmap threshold, which `serve` fixes at 128 KiB
  (`clypt_mcp.http.memory`): every request then cost an mmap, an mremap and an munmap (about a
  tenth of the redirect throughput). The protocol below is a `BufferedProtocol`: the socket is
  read into one buffer per thread, and only the bytes that came are copied out.
- Request smuggling: h11 refuses conflicting `Content-Length`s, any transfer coding but
  `chunked`, and control characters in headers, but accepts a request with both
  `Transfer-Encoding` and `Content-Length` (it goes by the former) and keeps the connection. A
  proxy in front that went by the latter would read a different request boundary, so such a
  request is answered 400 and the connection closed (RFC 9112, section 6.3).

Request bodies are limited by the app: 100 KB for the REST API and MCP (`wire.MAX_BODY`, also
for chunked bodies, counted as they arrive), 4 KB for the password form.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

import h11
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEADER_BYTES = 16 * 1024
KEEP_ALIVE_SECONDS = 5
REQUEST_SECONDS = 10
MAX_CONCURRENCY = 1000
MAX_PER_CLIENT = 128
READ_BYTES = 64 * 1024

_trusted: tuple[IPv4Network | IPv6Network, ...] | None = None
_open: Counter[str] = Counter()  # open connections per client address, in this process


def configure(trusted: tuple[IPv4Network | IPv6Network, ...]) -> None:
    """The proxies whose connections are not counted per address."""
    global _trusted
    _trusted = trusted


def _trusted_proxies() -> tuple[IPv4Network | IPv6Network, ...]:
    global _trusted
    if _trusted is None:
        found = []
        for part in os.environ.get("CLYPT_TRUSTED_PROXIES", "").split(","):
            try:
                found.append(ip_network(part.strip(), strict=False))
            except ValueError:
                continue
        _trusted = tuple(found)
    return _trusted


def _counted(host: str | None) -> str | None:
    """The address a connection is counted under; None for a trusted proxy or no address."""
    if not host:
        return None
    try:
        address = ip_address(host.partition("%")[0])
    except ValueError:
        return None  # a Unix socket
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in net for net in _trusted_proxies() if net.version == address.version):
        return None
    return str(address)


_TOO_MANY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 44\r\n\r\n"
    b"too many connections from this address now\r\n"
)


_reads = threading.local()  # each event loop's thread reads into a buffer of its own


def _read_buffer() -> memoryview:
    view: memoryview | None = getattr(_reads, "view", None)
    if view is None:
        view = _reads.view = memoryview(bytearray(READ_BYTES))
    return view


class GuardedH11Protocol(H11Protocol, asyncio.BufferedProtocol):
    """uvicorn's h11 protocol with a deadline on each request's arrival, and `RequestGuard`;
    it reads through `READ_BYTES` of a shared buffer (asyncio's `BufferedProtocol`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = RequestGuard(self.app)
        self.arrival: asyncio.TimerHandle | None = None
        self.counted_as: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        client = _counted(peer[0] if isinstance(peer, tuple) and peer else None)
        if client is not None:
            if _open[client] >= MAX_PER_CLIENT:
                transport.write(_TOO_MANY)
                transport.close()
                return
            _open[client] += 1
            self.counted_as = client
        self.arrival = self.loop.call_later(REQUEST_SECONDS, self.arrival_timed_out)

    def get_buffer(self, sizehint: int) -> memoryview:
        return _read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        # Copied out before anything else can read into the buffer: the loop's thread is here.
        self.data_received(bytes(_read_buffer()[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if self.arrival is None and self.conn.their_state is h11.IDLE:
            self.arrival = self.loop.call_later(REQUEST_SECONDS, self.arrival_timed_out)
        super().data_received(data)
        if not self.arriving():
            self.cancel_arrival()

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_arrival()
        if self.counted_as is not None:
            _open[self.counted_as] -= 1
            if _open[self.counted_as] <= 0:
                del _open[self.counted_as]
            self.counted_as = None
        super().connection_lost(exc)

    def arriving(self) -> bool:
        """True while a request is part-way in: some of its headers, or not all its body."""
        state = self.conn.their_state
        return state is h11.SEND_BODY or (state is h11.IDLE and bool(self.conn.trailing_data[0]))

    def cancel_arrival(self) -> None:
        if self.arrival is not None:
            self.arrival.cancel()
            self.arrival = None

    def arrival_timed_out(self) -> None:
        self.arrival = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            self.transport.close()


class RequestGuard:
    """Before the app: 431 for a header block over `MAX_HEADER_BYTES`, 400 for a request with
    both `Transfer-Encoding` and `Content-Length`; either closes the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope["raw_path"]) + len(scope["query_string"]) + 32
            length = chunked = False
            for name, value in scope["headers"]:
                size += len(name) + len(value) + 4
                length = length or name == b"content-length"
                chunked = chunked or name == b"transfer-encoding"
            if size > MAX_HEADER_BYTES:
                await refuse(send, 431, b"request line and headers are too long\n")
                return
            if length and chunked:
                await refuse(send, 400, b"Transfer-Encoding and Content-Length: send one\n")
                return
        await self.app(scope, receive, send)


async def refuse(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
