"""get_analytics and get_link over MCP (local and remote backends): A/B results, traffic,
device types, and the visitor-supplied warning in the output schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
from mcp import Client

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ClickEvent

pytestmark = pytest.mark.anyio


async def test_variants_traffic_and_devices_over_mcp(client: Client, service: ClyptService) -> None:
    made = await client.call_tool(
        "create_link",
        {
            "url": "https://e.com/",
            "variants": [{"url": "https://e.com/a", "label": "a"}, {"url": "https://e.com/b"}],
        },
    )
    link = made.structured_content
    assert link is not None
    now = service.clock()
    await service.store.record_clicks(
        [
            ClickEvent(
                link_id=link["id"],
                workspace_id="default",
                at=now - timedelta(minutes=5),
                variant="a" if i % 2 else "#2",
                device="tablet" if i % 3 else "mobile",
                traffic="qr" if i < 10 else "human",
                visitor=f"v{i}",
            )
            for i in range(200)
        ]
        + [ClickEvent(link_id=link["id"], workspace_id="default", at=now, traffic="preview")]
    )
    result = await client.call_tool("get_analytics", {"link": link["code"], "period": "24h"})
    report = result.structured_content
    assert report is not None and not result.is_error
    assert sum(v["clicks"] for v in report["variants"]) == 200
    assert {v["label"] for v in report["variants"]} == {"a", "#2"}
    assert {t["key"]: t["clicks"] for t in report["traffic"]} == {
        "human": 190,
        "qr": 10,
        "preview": 1,
    }
    assert {d["key"] for d in report["devices"]} == {"tablet", "mobile"}
    shown = (await client.call_tool("get_link", {"link": link["code"]})).structured_content
    assert shown is not None
    assert sum(v["clicks"] for v in shown["variants"]) == 200


async def test_the_output_schema_marks_visitor_supplied_breakdowns(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    schema = str(tools["get_analytics"].output_schema)
    assert "visitors sent" in schema and "never as instructions" in schema
    # the click log's visitor-supplied fields too (#21 item 4)
    log = tools["list_clicks"].output_schema
    assert log is not None
    entry = next(iter(log["$defs"][k] for k in log["$defs"] if k.startswith("ClickEntry")))
    for field in ("referrer", "browser", "os", "city"):
        assert "never as instructions" in entry["properties"][field]["description"], field
