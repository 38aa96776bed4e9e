"""The door of /mcp and /sse: who may come in, and the answers that tell a client how.

- No credential: 401 with `WWW-Authenticate: Bearer resource_metadata="…"` (no `error`), so an
  OAuth client discovers the authorization server; the body says how to connect either way.
- A credential that is not a live API key or access token, or an access token issued for the
  other transport (`/mcp` and `/sse` are separate resources, RFC 8707): 401 with
  `error="invalid_token"`.
- An OAuth access token calling a tool its grant lacks the scope for: 403 with
  `error="insufficient_scope", scope="…"`, so the client can ask the person for more (step-up).
  An API key keeps getting the tool's `isError` result naming the scope, as before.

The credential is checked once: the verdict rides a context variable into the SDK's own bearer
middleware (`ClyptTokenVerifier` reads it), which would otherwise ask the store again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from mcp.server.auth.provider import AccessToken
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clypt_mcp.errors import IpNotAllowedError, UnavailableError
from clypt_mcp.http.wire import MAX_BODY
from clypt_mcp.models import Scope as ClyptScope
from clypt_mcp.models import expand_scopes

Verify = Callable[[str], Awaitable[AccessToken | None]]
verified: ContextVar[tuple[str, AccessToken] | None] = ContextVar("clypt_verified", default=None)

HOW_TO_CONNECT = (
    "Connect with OAuth (your assistant discovers it from the WWW-Authenticate header: type the "
    "server's /mcp URL into its connector settings) or send Authorization: Bearer clypt_… with a "
    "key from `clypt-mcp keys create`."
)


def _challenge(metadata_url: str, **fields: str) -> str:
    parts = [f'{k}="{v}"' for k, v in fields.items()]
    parts.append(f'resource_metadata="{metadata_url}"')
    return "Bearer " + ", ".join(parts)


async def _send_json(send: Send, status: int, body: dict[str, Any], challenge: str) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *([(b"www-authenticate", challenge.encode())] if challenge else []),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def _unavailable(send: Send, exc: UnavailableError) -> None:
    data = json.dumps({"error": exc.code, "message": exc.message}).encode()
    retry = str(exc.details.get("retry_after", 5)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"retry-after", retry),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def needed_scope(body: bytes, tool_scopes: dict[str, ClyptScope]) -> list[str]:
    """The scopes the tool calls in a JSON-RPC body need (empty when it calls none)."""
    try:
        message = json.loads(body)
    except ValueError:
        return []
    messages = message if isinstance(message, list) else [message]
    out: list[str] = []
    for m in messages:
        if isinstance(m, dict) and m.get("method") == "tools/call":
            params = m.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            scope = tool_scopes.get(name) if isinstance(name, str) else None
            if scope is not None and scope.value not in out:
                out.append(scope.value)
    return out


class McpGate:
    """ASGI middleware in front of an MCP transport app."""

    def __init__(
        self,
        app: ASGIApp,
        verify: Verify,
        metadata_url: str,
        tool_scopes: dict[str, ClyptScope],
        is_oauth: Callable[[str], bool],
        resource: str,
    ) -> None:
        self.app = app
        self.verify = verify
        self.metadata_url = metadata_url
        self.tool_scopes = tool_scopes
        self.is_oauth = is_oauth
        self.resource = resource

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        header = ""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        kind, _, token = header.partition(" ")
        token = token.strip()
        if kind.lower() != "bearer" or not token:
            await _send_json(
                send,
                401,
                {"error": "unauthenticated", "message": "no credential — " + HOW_TO_CONNECT},
                _challenge(self.metadata_url),
            )
            return
        try:
            access = await self.verify(token)
        except UnavailableError as exc:  # the key cannot be looked up: the store is away
            await _unavailable(send, exc)
            return
        except IpNotAllowedError as exc:
            await _send_json(send, 403, {"error": exc.code, "message": exc.message}, "")
            return
        if (
            access is not None
            and access.resource is not None
            and self.is_oauth(token)
            and str(access.resource).rstrip("/") != self.resource
        ):
            await _send_json(
                send,
                401,
                {
                    "error": "invalid_token",
                    "message": f"this access token was issued for {access.resource}, not for "
                    f"{self.resource} — connect to {self.resource} to get one for it",
                },
                _challenge(
                    self.metadata_url,
                    error="invalid_token",
                    error_description="the token is for another resource",
                ),
            )
            return
        if access is None:
            await _send_json(
                send,
                401,
                {
                    "error": "invalid_token",
                    "message": "this token or API key is unknown, revoked or expired — "
                    + HOW_TO_CONNECT,
                },
                _challenge(
                    self.metadata_url,
                    error="invalid_token",
                    error_description="unknown, revoked or expired credential",
                ),
            )
            return
        if scope["method"] == "POST" and self.is_oauth(token):
            body, receive = await _buffer(receive)
            if body is not None:
                granted = expand_scopes(
                    frozenset(ClyptScope(s) for s in access.scopes if s in _SCOPE_NAMES)
                )
                missing = [
                    s for s in needed_scope(body, self.tool_scopes) if ClyptScope(s) not in granted
                ]
                if missing:
                    wanted = " ".join(missing)
                    await _send_json(
                        send,
                        403,
                        {
                            "error": "insufficient_scope",
                            "message": f"this call needs the {wanted} scope, which this app was "
                            "not granted — approve it again with that scope ticked",
                        },
                        _challenge(
                            self.metadata_url,
                            error="insufficient_scope",
                            scope=wanted,
                            error_description=f"needs {wanted}",
                        ),
                    )
                    return
        marker = verified.set((token, access))
        try:
            await self.app(scope, receive, send)
        finally:
            verified.reset(marker)


_SCOPE_NAMES = frozenset(s.value for s in ClyptScope)


async def _buffer(receive: Receive) -> tuple[bytes | None, Receive]:
    """Read a request body of at most MAX_BODY bytes and a `receive` that replays it; (None,
    replaying receive) when it is larger (the transport then refuses it itself)."""
    chunks: list[Message] = []
    size = 0
    while True:
        message = await receive()
        chunks.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > MAX_BODY or not message.get("more_body", False):
            break
    complete = size <= MAX_BODY and chunks[-1]["type"] == "http.request"
    body = b"".join(m.get("body", b"") for m in chunks) if complete else None

    async def replay() -> Message:
        if chunks:
            return chunks.pop(0)
        return await receive()

    return body, replay
