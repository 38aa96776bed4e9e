"""The MCP surface's own answers where the SDK's would confuse an assistant: unknown and hidden
tools and prompts named, missing prompt arguments as JSON-RPC -32602, a missing resource as the
spec's resource-not-found error, and tool errors without the SDK's "Error executing tool"
prefix."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, TextContent

from clypt_mcp.models import Scope

log = logging.getLogger(__name__)

# The spec's resource-not-found code up to protocol 2025-11-25; from 2026-07-28 on (SEP-2164)
# a missing resource is -32602 Invalid params, with the URI in `data` either way.
RESOURCE_NOT_FOUND = -32002
LAST_LEGACY_VERSION = "2025-11-25"

# What a prompt needs to be offered: its instructions call tools of these scopes.
PROMPT_SCOPES: dict[str, tuple[Scope, ...]] = {
    "campaign_setup": (Scope.LINKS_WRITE,),
    "performance_report": (Scope.ANALYTICS_READ,),
}


def error_text(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def strip_prefix(result: HandlerResult, name: str) -> HandlerResult:
    """An error result without the SDK's "Error executing tool <name>: " prefix."""
    prefix = f"Error executing tool {name}: "
    if isinstance(result, CallToolResult) and result.is_error:
        for block in result.content:
            if isinstance(block, TextContent) and block.text.startswith(prefix):
                block.text = block.text.removeprefix(prefix)
    elif isinstance(result, dict) and result.get("isError"):
        for block in result.get("content") or []:
            text = block.get("text") if isinstance(block, dict) else None
            if isinstance(text, str) and text.startswith(prefix):
                block["text"] = text.removeprefix(prefix)
    return result


def missing_tool(name: str, server: MCPServer, hidden: Mapping[str, Scope], hint: str) -> str:
    """Why `name` cannot be called: hidden by a scope (and how to get it), or unknown."""
    scope = hidden.get(name)
    if scope is not None:
        return f"tool '{name}' is not available here: it needs the '{scope.value}' scope — {hint}"
    known = ", ".join(sorted(t.name for t in server._tool_manager.list_tools()))
    return f"unknown tool '{name}' — the tools here are: {known or 'none'}"


def check_prompt(server: MCPServer, params: Mapping[str, Any] | None) -> None:
    """Refuse prompts/get for an unknown prompt or without a required argument.

    Raises:
        MCPError: INVALID_PARAMS naming the prompt or the missing arguments.
    """
    params = params or {}
    name = params.get("name")
    prompts = {p.name: p for p in server._prompt_manager.list_prompts()}
    prompt = prompts.get(name) if isinstance(name, str) else None
    if prompt is None:
        known = ", ".join(sorted(prompts)) or "none"
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"unknown prompt '{name}' — the prompts here are: {known}",
        )
    given = params.get("arguments") or {}
    if not isinstance(given, Mapping):
        raise MCPError(code=INVALID_PARAMS, message="arguments: must be an object of strings")
    missing = [a.name for a in prompt.arguments or [] if a.required and a.name not in given]
    if missing:
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"prompt '{prompt.name}' needs the argument(s) {', '.join(missing)} — "
            "give them and ask again",
            data={"missing": missing},
        )


class SurfaceGate:
    """Middleware for prompts/get and resources/read answers (tools are the ArgumentGate's)."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method == "prompts/get":
            check_prompt(self.server, ctx.params)
            return await call_next(ctx)
        if ctx.method == "resources/read":
            try:
                return await call_next(ctx)
            except MCPError as exc:
                data = exc.error.data
                if exc.error.code != INVALID_PARAMS or not (
                    isinstance(data, dict) and "uri" in data
                ):
                    raise
                if ctx.protocol_version > LAST_LEGACY_VERSION:
                    raise
                raise MCPError(
                    code=RESOURCE_NOT_FOUND, message=exc.error.message, data=exc.error.data
                ) from None
        return await call_next(ctx)


def tidy_descriptions(server: MCPServer) -> None:
    """Tool and prompt descriptions without their source indentation."""
    for tool in server._tool_manager.list_tools():
        tool.description = inspect.cleandoc(tool.description or "")
    for prompt in server._prompt_manager.list_prompts():
        prompt.description = inspect.cleandoc(prompt.description or "")
