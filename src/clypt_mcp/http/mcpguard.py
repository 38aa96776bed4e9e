"""What one API key may hold and spend over MCP: a layer in front of the SDK's transports.

- Tool calls (`tools/call` over `/mcp` and `/messages`) draw on the key's rate limit, the same
  budget (`AppState.limiter`) as its REST requests; over it a call is answered 429 with
  `Retry-After` and the X-RateLimit-* headers, as REST answers, and never runs.
- Open `/sse` streams: at most `MAX_STREAMS` per key; one more is answered 429.
- Streamable HTTP sessions: at most `MAX_SESSIONS` per key. A key that opens one more closes
  its own session idle the longest first; when none is idle, the new one is refused with 429.

A key is told by its bearer token (a hash of it is kept, never the token); requests without
one go straight to the SDK, which answers 401. None of these limits ever counts another key's
sessions or streams, so no key is refused because of another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clypt_mcp.errors import AuthenticationError, IpNotAllowedError
from clypt_mcp.http.auth import current_client
from clypt_mcp.http.ratelimit import Verdict
from clypt_mcp.http.state import AppState
from clypt_mcp.http.wire import MAX_BODY

log = logging.getLogger(__name__)

MAX_STREAMS = 100
MAX_SESSIONS = 100
SESSION_HEADER = b"mcp-session-id"


@dataclass
class _Session:
    last_used: float
    in_flight: int = 0


class McpGuard:
    """ASGI middleware for the MCP transports (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, state: AppState, manager: StreamableHTTPSessionManager | None = None
    ) -> None:
        self.app = app
        self.state = state
        self.manager = manager
        self.streams: dict[str, int] = {}
        self.sessions: dict[str, OrderedDict[str, _Session]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        token = _bearer(headers.get(b"authorization"))
        if token is None:
            await self.app(scope, receive, send)
            return
        key = hashlib.sha256(token.encode()).hexdigest()[:32]
        method, path = scope["method"], scope["path"]
        extra: list[tuple[bytes, bytes]] = []
        if method == "POST":
            body, receive = await _peek(receive, headers.get(b"content-length"))
            calls = _tool_calls(body) if body is not None else 0
            if calls:
                verdict = await self._spend(token, calls)
                if verdict is not None:
                    extra = [(k.lower().encode(), v.encode()) for k, v in verdict.headers().items()]
                    if not verdict.allowed:
                        await _refuse(send, f"rate limit of {verdict.limit} requests reached "
                                      f"— retry after {verdict.retry_after} s", extra)  # fmt: skip
                        return
        if path == "/sse" and method == "GET":
            await self._stream(key, scope, receive, _with_headers(send, extra))
            return
        if path.startswith("/mcp") and self.manager is not None:
            await self._session(key, headers, scope, receive, _with_headers(send, extra))
            return
        await self.app(scope, receive, _with_headers(send, extra))

    async def _spend(self, token: str, calls: int) -> Verdict | None:
        """Count `calls` tool calls of the key; the last verdict (None: not a valid key)."""
        try:
            principal = await self.state.service.authenticate(token, current_client.get())
        except (AuthenticationError, IpNotAllowedError):
            return None
        verdict = None
        for _ in range(calls):
            verdict = await self.state.limiter.check(principal.key_id or principal.workspace_id)
            if not verdict.allowed:
                break
        return verdict

    async def _stream(self, key: str, scope: Scope, receive: Receive, send: Send) -> None:
        if self.streams.get(key, 0) >= MAX_STREAMS:
            await _refuse(send, f"this API key already has {MAX_STREAMS} open /sse streams — "
                          "close one first", [(b"retry-after", b"10")])  # fmt: skip
            return
        self.streams[key] = self.streams.get(key, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.streams[key] -= 1
            if not self.streams[key]:
                del self.streams[key]

    async def _session(
        self, key: str, headers: dict[bytes, bytes], scope: Scope, receive: Receive, send: Send
    ) -> None:
        assert self.manager is not None
        open_now = self.manager._server_instances
        mine = self.sessions.setdefault(key, OrderedDict())
        for sid in [s for s in mine if s not in open_now]:
            del mine[sid]
        sid = headers.get(SESSION_HEADER, b"").decode("latin-1")
        if sid:
            session = mine.get(sid)
            if session is None:
                await self.app(scope, receive, send)
                return
            session.in_flight += 1
            try:
                await self.app(scope, receive, send)
            finally:
                session.in_flight -= 1
                session.last_used = time.monotonic()
                if sid in mine:
                    mine.move_to_end(sid)
            return
        if scope["method"] == "POST" and len(mine) >= MAX_SESSIONS:
            idle = next((s for s, v in mine.items() if not v.in_flight), None)
            if idle is None:
                await _refuse(send, f"this API key already has {MAX_SESSIONS} busy MCP "
                              "sessions — end one first", [(b"retry-after", b"10")])  # fmt: skip
                return
            del mine[idle]
            transport = open_now.get(idle)
            if transport is not None:
                log.info("closing the longest idle MCP session of a key at its session cap")
                await self.manager._discard_session(idle, transport)
        opened: list[str] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == SESSION_HEADER:
                        opened.append(value.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, watch)
        for new in opened:
            if new in open_now and new not in mine:
                mine[new] = _Session(time.monotonic())
        if not mine:
            del self.sessions[key]


def _bearer(header: bytes | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.decode("latin-1").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _peek(receive: Receive, length: bytes | None) -> tuple[bytes | None, Receive]:
    """The whole body when it is at most MAX_BODY (else None), and a `receive` that replays
    what was read before going on. A body declared larger is not read at all: the transport
    refuses it (413) unread."""
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        return None, receive
    messages: list[Message] = []
    size = 0
    complete = False
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > MAX_BODY:
            break
        if not message.get("more_body", False):
            complete = True
            break
    body = b"".join(m.get("body", b"") for m in messages) if complete else None

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return body, replay


def _tool_calls(body: bytes) -> int:
    """How many `tools/call` requests a JSON-RPC body holds."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        return 0
    items = data if isinstance(data, list) else [data]
    return sum(1 for m in items if isinstance(m, dict) and m.get("method") == "tools/call")


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    if not extra:
        return send

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


async def _refuse(send: Send, message: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": message}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # a refused client holds no connection
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
