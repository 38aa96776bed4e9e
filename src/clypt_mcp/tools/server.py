"""build_server: the Clypt MCP server, holding only the tools the scopes allow."""

from collections.abc import Callable
from typing import Any

from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.tools.base import Tool
from mcp.types import Icon
from pydantic import BaseModel, ConfigDict, ValidationError

import clypt_mcp
from clypt_mcp.assets import PNG_SIZE, TOOL_ICONS, icon_data_uri
from clypt_mcp.backends.base import BackendProvider
from clypt_mcp.errors import describe_validation_error
from clypt_mcp.models import ALL_SCOPES, Scope, expand_scopes
from clypt_mcp.tools import (
    analytics,
    domains,
    jobs,
    links,
    organize,
    qr,
    resources,
    ui,
    webhooks,
)
from clypt_mcp.tools.common import SENT_ARGUMENTS
from clypt_mcp.tools.protocol import (
    PROMPT_SCOPES,
    SurfaceGate,
    error_text,
    missing_tool,
    strip_prefix,
    tidy_descriptions,
)

INSTRUCTIONS = """\
Clypt makes and manages short links. create_link shortens a URL (tell the user the short_url);
list_links finds links (search, tag, folder, status, sort by clicks); update_link changes one
(send only what changes, null clears); delete_link soft-deletes (restorable) unless permanent;
bulk_update_links and bulk_delete_links change many (a filter gives a dry run and a token first);
get_analytics answers "how did my links do" with totals, exact unique visitors, a time series
and breakdowns by country, city, device type, browser, OS, referrer, link, traffic class and A/B
variant; list_clicks reads the click log (one click at a time, newest first); export_links and
export_clicks write a file as a job and answer a clypt://exports/{id} resource link (read it with
resources/read); import_links moves links in from another shortener; list_jobs, get_job and
cancel_job follow jobs; manage_tags and manage_folders organise; manage_domains adds and
verifies custom domains (links take `domain`); get_qr_code makes a QR image.
Links are named by code, id or full short URL.
Errors say what to change: fix the call and try again."""

SCOPE_HINT = (
    "add it to CLYPT_SCOPES in the server's environment (a comma list), then restart the server"
)

# The scope each tool needs to be listed at all.
TOOL_SCOPES: dict[str, Scope] = {
    "create_link": Scope.LINKS_WRITE,
    "update_link": Scope.LINKS_WRITE,
    "delete_link": Scope.LINKS_WRITE,
    "bulk_create_links": Scope.LINKS_WRITE,
    "bulk_update_links": Scope.LINKS_WRITE,
    "bulk_delete_links": Scope.LINKS_WRITE,
    "list_links": Scope.LINKS_READ,
    "get_link": Scope.LINKS_READ,
    "get_qr_code": Scope.LINKS_READ,
    "get_analytics": Scope.ANALYTICS_READ,
    "list_clicks": Scope.ANALYTICS_READ,
    "export_links": Scope.LINKS_READ,
    "export_clicks": Scope.ANALYTICS_READ,
    "import_links": Scope.LINKS_WRITE,
    "list_jobs": Scope.LINKS_READ,
    "get_job": Scope.LINKS_READ,
    "cancel_job": Scope.LINKS_READ,
    "manage_tags": Scope.TAGS_READ,
    "manage_folders": Scope.FOLDERS_READ,
    "manage_webhooks": Scope.WEBHOOKS_READ,
    "manage_domains": Scope.DOMAINS_READ,
}


class ArgumentGate:
    """Checks tools/call arguments before the SDK does: unknown fields are rejected by name,
    and every error reads `field: rule`, without echoing the value (it may be a password)."""

    def __init__(
        self, server: MCPServer, hidden: dict[str, Scope] | None = None, hint: str = ""
    ) -> None:
        self.server = server
        self.hidden = hidden or {}  # tools left out for want of a scope
        self.hint = hint  # how to get a missing scope
        self._strict: dict[str, type[BaseModel]] = {}

    def _tool(self, name: str) -> Tool | None:
        return self.server._tool_manager.get_tool(name)  # the SDK has no public lookup

    def _model(self, tool: Tool) -> type[BaseModel]:
        model = self._strict.get(tool.name)
        if model is None:
            base = tool.fn_metadata.arg_model
            config = ConfigDict(
                extra="forbid", hide_input_in_errors=True, arbitrary_types_allowed=True
            )
            model = type(f"{tool.name}_arguments", (base,), {"model_config": config})
            self._strict[tool.name] = model
        return model

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method != "tools/call" or not isinstance(ctx.params, dict):
            return await call_next(ctx)
        name = ctx.params.get("name")
        arguments = ctx.params.get("arguments") or {}
        if not isinstance(name, str):
            return await call_next(ctx)
        tool = self._tool(name)
        if tool is None:
            return error_text(missing_tool(name, self.server, self.hidden, self.hint))
        if not isinstance(arguments, dict):
            return strip_prefix(await call_next(ctx), name)
        try:
            self._model(tool).model_validate(tool.fn_metadata.pre_parse_json(arguments))
        except ValidationError as exc:
            return error_text(describe_validation_error(exc))
        token = SENT_ARGUMENTS.set(frozenset(arguments))
        try:
            return strip_prefix(await call_next(ctx), name)
        finally:
            SENT_ARGUMENTS.reset(token)


class LazyRegistration:
    """Registers the tools, resources and prompts on the first request that needs them.

    `initialize` does not depend on them (the capabilities are fixed), so a server built with
    `lazy=True` answers it without first spending ~100 ms generating JSON schemas; the first
    real request (usually tools/list) pays that once.
    """

    def __init__(self, register: Callable[[], None]) -> None:
        self._register: Callable[[], None] | None = register

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if self._register is not None and ctx.method not in _NO_REGISTRY:
            register, self._register = self._register, None
            register()
        return await call_next(ctx)


_NO_REGISTRY = frozenset({"initialize", "ping", "notifications/initialized"})


def icons(name: str = "clypt") -> list[Icon]:
    """One icon as data: URIs (SVG, and PNG for clients that draw only bitmaps): they show
    wherever the client runs, whether or not anything serves CLYPT_BASE_URL."""
    return [
        Icon(src=icon_data_uri(f"{name}.svg"), mime_type="image/svg+xml", sizes=["any"]),
        Icon(src=icon_data_uri(f"{name}.png"), mime_type="image/png", sizes=[PNG_SIZE]),
    ]


def _set_tool_icons(mcp: MCPServer) -> None:
    for tool in mcp._tool_manager.list_tools():  # the SDK has no public setter
        tool.icons = icons(TOOL_ICONS.get(tool.name, "clypt"))


# The tools whose results the MCP App `ui://clypt/analytics` shows (tools/ui).
UI_TOOLS = ("get_analytics", "get_link")


def _set_tool_ui(mcp: MCPServer) -> None:
    for name in UI_TOOLS:
        tool = mcp._tool_manager.get_tool(name)
        if tool is not None:
            tool.meta = {**(tool.meta or {}), **ui.tool_meta()}


def build_server(
    backends: BackendProvider,
    scopes: frozenset[Scope] = ALL_SCOPES,
    *,
    log_level: str = "WARNING",
    lazy: bool = False,
    scope_hint: str = SCOPE_HINT,
    **kwargs: Any,
) -> MCPServer:
    """The Clypt MCP server over `backends()`, listing only the tools and prompts `scopes`
    allow; a call to a hidden tool names the scope it needs, then `scope_hint`.

    `lazy=True` defers registering tools, resources and prompts to the first request that
    needs them (a fast cold start for stdio hosts).
    """
    granted = expand_scopes(scopes)
    # the analytics view (MCP Apps) where analytics may be read
    apps = [ui.apps()] if Scope.ANALYTICS_READ in granted else []
    mcp: MCPServer = MCPServer(
        "clypt",
        title="Clypt",
        version=clypt_mcp.__version__,
        instructions=INSTRUCTIONS,
        website_url="https://github.com/clypt/clypt-mcp",
        icons=icons(),
        log_level=log_level,  # type: ignore[arg-type]
        extensions=apps,
        **kwargs,
    )
    resources.register_completion(mcp, backends, granted)  # a capability: needed up front

    def register() -> None:
        links.register(mcp, backends)
        qr.register(mcp, backends)
        analytics.register(mcp, backends)
        jobs.register(mcp, backends, granted)
        organize.register(mcp, backends, granted)
        webhooks.register(mcp, backends)
        domains.register(mcp, backends, granted)
        for name in hidden:
            if name not in ("manage_tags", "manage_folders", "manage_domains"):
                mcp.remove_tool(name)
        resources.register(mcp, backends, granted)
        for name, needs in PROMPT_SCOPES.items():
            if not set(needs) <= granted:
                mcp.remove_prompt(name)
        tidy_descriptions(mcp)
        _set_tool_icons(mcp)
        if apps:
            _set_tool_ui(mcp)

    hidden = {name: scope for name, scope in TOOL_SCOPES.items() if scope not in granted}
    if lazy:
        mcp.middleware.append(LazyRegistration(register))
    else:
        register()
    mcp.middleware.append(ArgumentGate(mcp, hidden, scope_hint))
    mcp.middleware.append(SurfaceGate(mcp))
    mcp.middleware.append(ui.HideAppsFromPlainClients())
    return mcp
