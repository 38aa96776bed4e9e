"""GET / : what this server is, whether it is healthy, and how to connect an assistant.

Names no workspace and shows no data. `Accept: text/markdown` gets the same as Markdown.
Served to a loopback client, the desktop snippet's `command` is the absolute path of the
running `clypt-mcp` executable as it was started (symlinks kept, not resolved), so it can be
pasted as is; elsewhere it is the bare command name.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import sys
from functools import cache

import anyio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from clypt_mcp import __version__
from clypt_mcp.http.docs import wants_markdown
from clypt_mcp.http.state import AppState
from clypt_mcp.http.web.common import PAGE_HEADERS, page

HEALTH_TIMEOUT = 2.0  # seconds the store may take to answer the health check


@cache
def executable() -> str:
    """The absolute path of the `clypt-mcp` program this process was started as (found once,
    when the app is built, before anything could change the working directory)."""
    started = sys.argv[0] if sys.argv else ""
    if os.path.basename(started).startswith("clypt-mcp"):
        return os.path.abspath(started)  # abspath does not resolve symlinks
    found = shutil.which("clypt-mcp")
    if found:
        return os.path.abspath(found)
    return os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "clypt-mcp")


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def health(state: AppState) -> tuple[bool, str]:
    try:
        with anyio.fail_after(HEALTH_TIMEOUT):
            await state.store.schema_version()
    except Exception:
        return False, "degraded — the store cannot be reached"
    return True, "healthy — the store answers"


def desktop_config(request: Request) -> str:
    command = executable() if _loopback(request) else "clypt-mcp"
    return json.dumps({"mcpServers": {"clypt": {"command": command, "args": []}}}, indent=2)


async def home(request: Request, state: AppState) -> Response:
    healthy, line = await health(state)
    mcp_url = state.service.base_url + "/mcp"
    snippet = desktop_config(request)
    if wants_markdown(request):
        return PlainTextResponse(
            _markdown(line, snippet, mcp_url),
            media_type="text/markdown; charset=utf-8",
            headers={"vary": "Accept", "cache-control": "no-store"},
        )
    return page(
        request,
        "home.html",
        session=None,
        version=__version__,
        healthy=healthy,
        health=line,
        desktop_config=snippet,
        mcp_url=mcp_url,
        headers={**PAGE_HEADERS, "vary": "Accept"},
    )


def _markdown(health_line: str, snippet: str, mcp_url: str) -> str:
    return f"""# Clypt {__version__}

A link shortener driven by AI assistants: they create, organise and measure short links through
the Model Context Protocol (MCP). People can do the same in the dashboard at [/app](/app).

Health: {health_line}

## Connect an assistant

### On this computer (Claude Desktop and other desktop apps)

Add this to the app's MCP configuration file (`claude_desktop_config.json` for Claude Desktop):

```json
{snippet}
```

### Over the network

Point the assistant at the MCP endpoint `{mcp_url}` (streamable HTTP). It signs in with OAuth
where the server offers it, or sends an API key as `Authorization: Bearer clypt_…`. Create a key
with `clypt-mcp keys create`.

## More

- [Dashboard](/app): your links, their clicks and your API keys (sign in with an API key).
- [/llms.txt](/llms.txt): the guide for AI agents.
- [/api/v1/openapi.json](/api/v1/openapi.json): the REST API's OpenAPI document.
- The project's README.md and docs/ folder: setup, deployment and every setting.
"""
