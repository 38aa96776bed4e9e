# ruff: noqa: F811 — test functions take the fixtures imported from test_browser by name
"""The analytics MCP App in a real headless Chromium, inside a page that plays the host.

The host page embeds the view (`resources/read ui://clypt/analytics`, served with the CSP the
MCP Apps spec tells hosts to use when a resource declares no domains) in a sandboxed iframe,
answers its `ui/initialize`, posts the tool input and a real `get_analytics` result, and
records the view's `tools/call` requests; the test answers each with a real call to the
server, as a host would. axe-core runs inside the view; screenshots go to
`.ci/artifacts/mcp-app/` (git-ignored).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
import uvicorn
from mcp import Client
from mcp.types import CallToolResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ClickEvent, LinkCreate, Principal
from clypt_mcp.store.base import Store
from clypt_mcp.tools.server import build_server
from clypt_mcp.tools.ui import ANALYTICS_URI
from tests.e2e.test_browser import ELEMENT, Browser, browser  # noqa: F401 (fixtures)
from tests.e2e.test_dashboard import AXE, AXE_RUN, ROOT
from tests.http.live import free_port, started

pytestmark = pytest.mark.anyio

ARTIFACTS = ROOT / ".ci" / "artifacts" / "mcp-app"
OWNER = Principal(workspace_id="default")
# what the MCP Apps spec tells a host to apply when a resource declares no CSP domains
HOST_DEFAULT_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; media-src 'self' data:; connect-src 'none'; frame-src 'none'; "
    "base-uri 'self'; object-src 'none'"
)
HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test host</title></head>
<body><h1>Test host</h1>
<iframe id="view" title="Clypt analytics" sandbox="allow-scripts" src="/view"
  style="width:720px;height:940px;border:1px solid #ccc"></iframe>
<script>
window.fromView = []; window.calls = []; window.sizes = []; window.initialized = false;
const frame = document.getElementById("view");
window.toView = (message) => frame.contentWindow.postMessage(message, "*");
window.addEventListener("message", (event) => {
  if (event.source !== frame.contentWindow) return;
  const m = event.data;
  window.fromView.push(m);
  if (m.method === "ui/initialize") {
    window.initParams = m.params;
    window.toView({jsonrpc: "2.0", id: m.id, result: {
      protocolVersion: "2026-01-26", hostInfo: {name: "test-host", version: "1"},
      hostCapabilities: {serverTools: {}}, hostContext: {theme: "light", displayMode: "inline"}}});
  } else if (m.method === "ui/notifications/initialized") {
    window.initialized = true;
  } else if (m.method === "ui/notifications/size-changed") {
    window.sizes.push(m.params);
  } else if (m.method === "tools/call") {
    window.calls.push(m);
  }
});
</script></body></html>"""


class Host:
    """The test's side of the host: the MCP server the view's requests go to."""

    def __init__(self, browser: Browser, client: Client, frame: str) -> None:
        self.browser = browser
        self.client = client
        self.frame = frame
        self.answered = 0

    async def run(self, script: str, *args: Any) -> Any:
        return await self.browser.call(
            "POST", "/execute/sync", {"script": script, "args": list(args)}
        )

    async def top(self) -> None:
        await self.browser.call("POST", "/frame", {"id": None})

    async def view(self) -> None:
        await self.top()
        await self.browser.call("POST", "/frame", {"id": {ELEMENT: self.frame}})

    async def send(self, method: str, params: dict[str, Any]) -> None:
        await self.top()
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        await self.run("window.toView(arguments[0])", message)

    async def next_call(self) -> dict[str, Any]:
        """The view's next tools/call request (it must come)."""
        await self.top()
        found: list[dict[str, Any]] = []

        async def asked() -> bool:
            calls = await self.run("return window.calls")
            if len(calls) > self.answered:
                found.append(calls[self.answered])
                return True
            return False

        await self.browser.wait_until("the view asks the host to call a tool", asked)
        self.answered += 1
        return found[0]

    async def answer(self, call: dict[str, Any]) -> CallToolResult:
        """Run the view's request on the server and post the result back, as a host does."""
        params = call["params"]
        result = await self.client.call_tool(params["name"], params["arguments"])
        await self.top()
        reply = {"jsonrpc": "2.0", "id": call["id"], "result": wire(result)}
        await self.run("window.toView(arguments[0])", reply)
        return result

    async def axe_and_screenshot(self, name: str) -> None:
        await self.top()
        shot = await self.browser.call("GET", "/screenshot")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(shot))
        await self.view()
        await self.run(AXE.read_text())
        found = await self.browser.call("POST", "/execute/async", {"script": AXE_RUN, "args": []})
        assert found == [], f"{name}: {json.dumps(found, indent=1)}"


def wire(result: CallToolResult) -> dict[str, Any]:
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


@pytest.fixture
async def host_site(view_html: str) -> AsyncIterator[str]:
    async def host(request: Request) -> HTMLResponse:
        return HTMLResponse(HOST_PAGE)

    async def view(request: Request) -> HTMLResponse:
        return HTMLResponse(view_html, headers={"content-security-policy": HOST_DEFAULT_CSP})

    app = Starlette(routes=[Route("/", host), Route("/view", view)])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await started(server)
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            server.should_exit = True


@pytest.fixture
def app_service(store: Store) -> ClyptService:
    return ClyptService(store, base_url="https://clypt.test")


@pytest.fixture
async def mcp_client(app_service: ClyptService) -> AsyncIterator[Client]:
    server = build_server(lambda: LocalBackend(app_service, OWNER))
    async with Client(server, mode="legacy") as client:
        yield client


@pytest.fixture
async def view_html(mcp_client: Client) -> str:
    read = await mcp_client.read_resource(ANALYTICS_URI)
    content = read.contents[0]
    assert content.mime_type == "text/html;profile=mcp-app"
    return str(content.text)  # type: ignore[union-attr]


async def _clicks(service: ClyptService, link_id: str, hours_ago: list[int]) -> None:
    now = datetime.now(UTC)
    await service.store.record_clicks(
        [
            ClickEvent(link_id=link_id, workspace_id="default", at=now - timedelta(hours=h))
            for h in hours_ago
        ]
    )


async def _series(host: Host) -> list[int]:
    await host.view()
    values = await host.run(
        "return [...document.querySelectorAll('svg.chart circle.point')]"
        ".map((c) => Number(c.getAttribute('data-clicks')))"
    )
    return [int(v) for v in values]


async def test_the_view_draws_a_result_and_asks_the_host_for_other_periods_and_links(
    browser: Browser, host_site: str, mcp_client: Client, app_service: ClyptService
) -> None:
    spring = await app_service.create_link(OWNER, LinkCreate(url="https://e.com/s", code="spring"))
    autumn = await app_service.create_link(OWNER, LinkCreate(url="https://e.com/a", code="autumn"))
    await _clicks(app_service, spring.id, [1, 2, 3, 30, 30, 200, 500])  # 200 h, 500 h: 30d only
    await _clicks(app_service, autumn.id, [5, 50])
    await browser.call("POST", "/timeouts", {"script": 60_000})
    await browser.call("POST", "/window/rect", {"width": 800, "height": 1100})

    await browser.open(host_site)
    frame = await browser.find("#view")
    host = Host(browser, mcp_client, frame)

    async def initialized() -> bool:
        return bool(await host.run("return window.initialized"))

    await browser.wait_until("the view initializes with the host", initialized)
    init = await host.run("return window.initParams")
    assert init["protocolVersion"] == "2026-01-26" and init["appInfo"]["name"]

    # the host posts the call's input and its result, as the extension specifies
    arguments = {"period": "7d"}
    first = await mcp_client.call_tool("get_analytics", arguments)
    report = first.structured_content
    assert report is not None and report["clicks_in_period"] == 7
    await host.send("ui/notifications/tool-input", {"arguments": arguments})
    await host.send("ui/notifications/tool-result", wire(first))

    await host.view()

    async def drawn() -> bool:
        return await _series(host) == [b["clicks"] for b in report["timeseries"]]

    await browser.wait_until("the chart draws the result's series", drawn)
    assert sum(await _series(host)) == 7
    assert await browser.text("#period-clicks") == "7"
    size = await host.run(
        "const r = document.querySelector('svg.chart').getBoundingClientRect();"
        "return [r.width, r.height]"
    )
    assert size[0] >= 150 and size[1] >= 60, size
    # every point's value is in the DOM as text too (the hidden table)
    cells = await host.run(
        "return [...document.querySelectorAll('#points tbody tr td:nth-child(2)')]"
        ".map((td) => Number(td.textContent))"
    )
    assert cells == [b["clicks"] for b in report["timeseries"]]
    assert "spring" in await browser.text("[data-breakdown=links]")
    await browser.click("svg.chart")

    async def read_out() -> bool:
        return "clicks" in await browser.text("#readout")

    await browser.wait_until("the pointer's point is read out", read_out)
    # the period picker names the API's periods
    options = await host.run(
        "return [...document.querySelectorAll('#period option:not([disabled])')]"
        ".map((o) => o.value)"
    )
    assert options == ["24h", "7d", "30d", "90d", "12mo", "all"]
    await host.axe_and_screenshot("workspace-7d")

    # a new period: the view asks the host for get_analytics with the same selection
    await host.view()
    await browser.click('#period option[value="30d"]')
    call = await host.next_call()
    assert call["method"] == "tools/call"
    assert call["params"] == {"name": "get_analytics", "arguments": {"period": "30d"}}
    month = await host.answer(call)
    assert month.structured_content is not None

    async def redrawn() -> bool:
        return await _series(host) == [b["clicks"] for b in month.structured_content["timeseries"]]

    await browser.wait_until("the chart draws the 30-day result", redrawn)
    assert await browser.text("#period-clicks") == "9"
    await host.axe_and_screenshot("workspace-30d")

    # drill into one link from the Links breakdown: same period, that link
    await host.view()
    await browser.click('button[aria-label="Show the analytics of link spring"]')
    call = await host.next_call()
    assert call["params"] == {
        "name": "get_analytics",
        "arguments": {"period": "30d", "link": "spring"},
    }
    await host.answer(call)
    await host.view()

    async def link_shown() -> bool:
        return await browser.text("#period-clicks") == "7" and "spring" in await browser.text("h1")

    await browser.wait_until("the view shows the link's 30 days", link_shown)
    # the same selection keeps the link when the period changes again
    await browser.click('#period option[value="24h"]')
    call = await host.next_call()
    assert call["params"]["arguments"] == {"link": "spring", "period": "24h"}
    await host.answer(call)
    await host.view()

    async def day_shown() -> bool:
        return await browser.text("#period-clicks") == "3"

    await browser.wait_until("the view shows the link's last 24 hours", day_shown)
    await host.axe_and_screenshot("link-24h")

    # the view reported its size, and nothing it did broke the host's CSP
    await host.top()
    assert await host.run("return window.sizes.length") >= 1
    console = [line for line in await browser.console() if "Content Security Policy" in line]
    assert console == [], console


async def test_a_get_link_result_shows_that_links_analytics(
    browser: Browser, host_site: str, mcp_client: Client, app_service: ClyptService
) -> None:
    link = await app_service.create_link(OWNER, LinkCreate(url="https://e.com/l", code="lone"))
    await _clicks(app_service, link.id, [1, 2])
    await browser.open(host_site)
    host = Host(browser, mcp_client, await browser.find("#view"))

    async def initialized() -> bool:
        return bool(await host.run("return window.initialized"))

    await browser.wait_until("the view initializes with the host", initialized)
    shown = await mcp_client.call_tool("get_link", {"link": "lone"})
    await host.send("ui/notifications/tool-input", {"arguments": {"link": "lone"}})
    await host.send("ui/notifications/tool-result", wire(shown))
    call = await host.next_call()
    assert call["params"] == {
        "name": "get_analytics",
        "arguments": {"link": "lone", "period": "7d"},
    }
    await host.answer(call)
    await host.view()

    async def drawn() -> bool:
        return sum(await _series(host)) == 2

    await browser.wait_until("the link's clicks are drawn", drawn)

    # an error result shows its message, and draws nothing new
    await host.send(
        "ui/notifications/tool-result",
        {"content": [{"type": "text", "text": "link: no link 'gone'"}], "isError": True},
    )
    await host.view()
    await browser.wait_for_text("no link 'gone'")
