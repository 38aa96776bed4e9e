"""Analytics as an MCP App (the `io.modelcontextprotocol/ui` extension, through the SDK's Apps).

`get_analytics` and `get_link` carry `_meta.ui.resourceUri = ui://clypt/analytics`; that
resource is one self-contained HTML document (analytics.html: inline script and style, nothing
from another origin, an empty CSP declaration) served as `text/html;profile=mcp-app`. Its chart
is drawn by the dashboard's chart script (http/web/static/chart.js, inlined) with the chart
definition of clypt_mcp.core.chart. A host
that shows apps renders it beside the tool result: the view draws the time series and the
breakdowns from the result's structured content and, when the person picks another period,
interval or link, asks the host to call `get_analytics` (it never reaches the network itself).

Hosts without the extension are untouched: the tools answer as before, and the UI resource is
left out of their resources/list (the spec lets a server list UI-only resources or not; it is
still readable by its URI).
"""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from typing import Any, get_args

from mcp.server.apps import APP_MIME_TYPE, Apps, ResourceCsp, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import ListResourcesResult

import clypt_mcp
from clypt_mcp.core.chart import STYLE
from clypt_mcp.models import Interval, Period

ANALYTICS_URI = "ui://clypt/analytics"
APP_PROTOCOL = "2026-01-26"  # the MCP Apps revision the view speaks
BREAKDOWNS = [
    ("Countries", "countries"),
    ("Devices", "devices"),
    ("Browsers", "browsers"),
    ("Operating systems", "os"),
    ("Referrers", "referrers"),
    ("Links", "links"),
    ("Variants", "variants"),
    ("Traffic classes", "traffic"),
    ("Cities", "cities"),
]
_PLACEHOLDER = "__CLYPT_CONFIG__"
_CHART_PLACEHOLDER = "/*__CLYPT_CHART_JS__*/"

__all__ = ["ANALYTICS_URI", "APP_MIME_TYPE", "analytics_html", "apps", "tool_meta"]


def tool_meta() -> dict[str, Any]:
    """The `_meta` of a tool whose results the analytics view shows."""
    return {"ui": {"resourceUri": ANALYTICS_URI}}


@functools.cache
def analytics_html() -> str:
    """The view, with the chart definition, periods and intervals written in as JSON."""
    config = {
        "tool": "get_analytics",
        "version": clypt_mcp.__version__,
        "protocol": APP_PROTOCOL,
        "periods": list(get_args(Period)),
        "intervals": list(get_args(Interval)),
        "breakdowns": BREAKDOWNS,
        "style": STYLE.as_json(),
    }
    # `<` escaped so no value can close the data block
    data = json.dumps(config, separators=(",", ":")).replace("<", "\\u003c")
    page = files(__package__).joinpath("analytics.html").read_text(encoding="utf-8")
    # the dashboard's chart script, inlined: one drawing of the chart for both
    script = files("clypt_mcp.http.web").joinpath("static/chart.js").read_text(encoding="utf-8")
    assert page.count(_PLACEHOLDER) == 1 and page.count(_CHART_PLACEHOLDER) == 1
    assert "</script" not in script.lower()
    return page.replace(_PLACEHOLDER, data).replace(_CHART_PLACEHOLDER, script)


def apps() -> Apps:
    """The Apps extension holding the analytics view (tools get `tool_meta()` themselves:
    they are registered later, on the first request that needs them)."""
    extension = Apps()
    extension.add_html_resource(
        ANALYTICS_URI,
        analytics_html(),
        name="analytics",
        title="Clypt analytics",
        description="Interactive chart and breakdowns of get_analytics results: pick a period, "
        "an interval or a link, and the view asks the host to call get_analytics again.",
        csp=ResourceCsp(),  # no outside origin: no connections, scripts, styles, frames
        prefers_border=True,
    )
    return extension


class HideAppsFromPlainClients:
    """resources/list without `ui://` resources for a client that did not negotiate MCP Apps."""

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "resources/list" or _supports_apps(ctx):
            return result
        if isinstance(result, ListResourcesResult):
            result.resources = [r for r in result.resources if not str(r.uri).startswith("ui://")]
        elif isinstance(result, dict) and isinstance(result.get("resources"), list):
            result["resources"] = [
                r for r in result["resources"] if not str(r.get("uri", "")).startswith("ui://")
            ]
        return result


def _supports_apps(ctx: ServerRequestContext[Any, Any]) -> bool:
    try:
        return client_supports_apps(ctx)
    except (AttributeError, RuntimeError):  # no session (direct dispatch without capabilities)
        return False
