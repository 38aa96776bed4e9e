"""MCP over Streamable HTTP (/mcp) and SSE (/sse) inside the HTTP app, behind API keys and
OAuth access tokens (http/oauth.py).

Every caller brings a `clypt_…` key or an access token as a Bearer token; its workspace and
scopes decide which tools it is shown and may call, exactly as `CLYPT_SCOPES` does for the
stdio server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    CallToolResult,
    ListPromptsResult,
    ListToolsResult,
    TextContent,
)
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.errors import AuthenticationError, QuotaExceededError
from clypt_mcp.http.auth import current_client, scope_client
from clypt_mcp.http.mcp_gate import McpGate, verified
from clypt_mcp.http.mcpguard import McpGuard
from clypt_mcp.http.oauth import resource_metadata_url
from clypt_mcp.http.oauth_names import ACCESS_PREFIX
from clypt_mcp.http.state import AppState
from clypt_mcp.http.wire import MAX_BODY
from clypt_mcp.models import ALL_SCOPES, Principal, Scope, expand_scopes
from clypt_mcp.tools.protocol import PROMPT_SCOPES
from clypt_mcp.tools.server import TOOL_SCOPES, build_server

log = logging.getLogger(__name__)
Lifespan = Callable[[], AbstractAsyncContextManager[Any]]


class ClyptTokenVerifier:
    """The SDK's TokenVerifier over Clypt API keys."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    async def verify_token(self, token: str) -> AccessToken | None:
        known = verified.get()
        if known is not None and known[0] == token:
            return known[1]  # McpGate checked this very token for this request
        if self.state.oauth is not None and token.startswith(ACCESS_PREFIX):
            return await self.state.oauth.load_access_token(token)
        try:
            principal = await self.state.service.authenticate(token, current_client.get())
        except AuthenticationError:
            return None
        return AccessToken(
            token=token,
            client_id=principal.key_id or principal.workspace_id,
            scopes=sorted(s.value for s in principal.scopes),
            subject=principal.workspace_id,
        )


def caller() -> Principal:
    """The Principal of the key behind the current MCP request."""
    token = get_access_token()
    if token is None or token.subject is None:
        raise AuthenticationError("no API key on this MCP request")
    scopes = frozenset(Scope(s) for s in token.scopes if s in {x.value for x in Scope})
    # An OAuth token acts as its grant (the connected app), an API key as itself.
    key_id = str((token.claims or {}).get("grant_id") or token.client_id)
    return Principal(workspace_id=token.subject, key_id=key_id, scopes=scopes)


class ScopeFilter:
    """Shows each caller only the tools its key's scopes allow, and refuses the others; counts
    each tool call against the workspace's daily API call limit, when it has one."""

    def __init__(self, state: AppState | None = None) -> None:
        self.state = state

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method not in ("tools/list", "tools/call", "prompts/list", "prompts/get"):
            return await call_next(ctx)
        try:
            granted = expand_scopes(caller().scopes)
        except AuthenticationError:
            granted = frozenset()
        if ctx.method.startswith("prompts/"):
            return await _filter_prompts(ctx, call_next, granted)
        if ctx.method == "tools/call":
            name = ctx.params.get("name") if isinstance(ctx.params, dict) else None
            needed = TOOL_SCOPES.get(name) if isinstance(name, str) else None
            if needed is not None and needed not in granted:
                text = (
                    f"tool '{name}' is not available to this API key: it lacks the "
                    f"'{needed.value}' scope — ask an admin for a key that has it"
                )
                return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
            if self.state is not None:
                try:
                    await self.state.service.spend_api_call(caller())
                except (AuthenticationError, QuotaExceededError) as exc:
                    text = str(exc)
                    return CallToolResult(
                        content=[TextContent(type="text", text=text)], is_error=True
                    )
            return await call_next(ctx)
        result = await call_next(ctx)
        allowed = {n for n, scope in TOOL_SCOPES.items() if scope in granted}
        if isinstance(result, ListToolsResult):
            result.tools = [t for t in result.tools if t.name in allowed]
        elif isinstance(result, dict) and isinstance(result.get("tools"), list):
            result["tools"] = [t for t in result["tools"] if t.get("name") in allowed]
        return result


class QuietRefusals:
    """The SDK's SSE transport answers a request its security check refuses (a bad `Host`,
    `Origin` or content type) and then raises ValueError; the answer is sent, so the error is
    logged in one line instead of a traceback per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except (ValueError, ExceptionGroup) as exc:
            only_values = (
                not isinstance(exc, ExceptionGroup)
                or exc.subgroup(lambda e: not isinstance(e, ValueError | ExceptionGroup)) is None
            )
            if not (started and only_values):
                raise
            log.info("SSE request refused: %s", exc)


async def _filter_prompts(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext, granted: frozenset[Scope]
) -> HandlerResult:
    """Prompts whose tools the key may not call are neither listed nor given."""
    hidden = {n for n, needs in PROMPT_SCOPES.items() if not set(needs) <= granted}
    if ctx.method == "prompts/get":
        name = ctx.params.get("name") if isinstance(ctx.params, dict) else None
        if name in hidden:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"prompt '{name}' is not available to this API key: it needs the "
                f"{', '.join(s.value for s in PROMPT_SCOPES[name])} scope",
            )
        return await call_next(ctx)
    result = await call_next(ctx)
    if isinstance(result, ListPromptsResult):
        result.prompts = [p for p in result.prompts if p.name not in hidden]
    elif isinstance(result, dict) and isinstance(result.get("prompts"), list):
        result["prompts"] = [p for p in result["prompts"] if p.get("name") not in hidden]
    return result


def _security(state: AppState) -> TransportSecuritySettings:
    base = urlsplit(state.settings.base)
    host = base.hostname or "127.0.0.1"
    hosts = [host, f"{host}:*", "127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = [state.settings.base, "http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def mcp_transports(state: AppState) -> tuple[list[tuple[tuple[str, ...], ASGIApp]], list[Lifespan]]:
    """(path prefixes → ASGI app) pairs for /mcp and /sse, and the lifespans they need."""
    service = state.service
    auth = AuthSettings(
        issuer_url=AnyHttpUrl(state.settings.base),
        resource_server_url=AnyHttpUrl(f"{state.settings.base}/mcp"),
        # Clypt keys are not audience-bound tokens: the verifier checks them against the store.
        validate_token_resource=False,
    )
    verifier = ClyptTokenVerifier(state)
    mcp = build_server(
        lambda: LocalBackend(service, caller()),
        ALL_SCOPES,
        token_verifier=verifier,
        auth=auth,
    )
    mcp.middleware.insert(0, ScopeFilter(state))
    security = _security(state)
    # Bodies over the REST API's 100 KB are refused with 413 as they arrive (the SDK's default
    # would take 4 MiB), so a tool call takes no more over MCP than the same call over REST.
    streamable = mcp.streamable_http_app(
        transport_security=security, max_request_body_size=MAX_BODY
    )
    sse = mcp.sse_app(transport_security=security, max_request_body_size=MAX_BODY)

    def gate(app: ASGIApp, path: str) -> ASGIApp:
        inner = McpGate(
            app,
            verifier.verify_token,
            resource_metadata_url(state, path),
            TOOL_SCOPES,
            lambda token: token.startswith(ACCESS_PREFIX),
            f"{state.settings.base}{path}",
        )

        async def with_client(scope: AsgiScope, receive: Receive, send: Send) -> None:
            marker = current_client.set(scope_client(scope, state))
            try:
                await inner(scope, receive, send)
            finally:
                current_client.reset(marker)

        return with_client

    # The metadata documents are the main app's (http/oauth.py), not the SDK's. Per-key limits
    # on tool calls (the REST rate limit), sessions and /sse streams sit behind the gate.
    apps: list[tuple[tuple[str, ...], ASGIApp]] = [
        (("/mcp",), gate(McpGuard(streamable, state, mcp.session_manager), "/mcp")),
        (("/sse", "/messages"), gate(McpGuard(QuietRefusals(sse), state), "/sse")),
    ]
    return apps, [lambda: mcp.session_manager.run()]
