"""get_analytics(chart=true): a PNG of the requested size that follows the data."""

from __future__ import annotations

import base64
import struct
from datetime import timedelta

import pytest
from mcp import Client
from mcp.types import ImageContent

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ClickEvent, LinkCreate, Principal
from clypt_mcp.store.sqlite import SqliteStore
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def _chart(client: Client, **extra: object) -> bytes:
    r = await client.call_tool("get_analytics", {"period": "7d", "chart": True, **extra})
    assert not r.is_error
    images = [b for b in r.content if isinstance(b, ImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    assert r.structured_content is not None  # the numbers come along
    return base64.b64decode(images[0].data)


async def test_chart_has_the_requested_size_and_changes_with_the_data(
    make_server: ServerFactory, service: ClyptService, store: SqliteStore
) -> None:
    async with Client(await make_server()) as c:
        empty = await _chart(c, chart_width=640, chart_height=320)
        assert png_size(empty) == (640, 320)
        assert png_size(await _chart(c)) == (800, 400)
        link = await service.create_link(
            Principal(workspace_id="default"), LinkCreate(url="https://e.com/c")
        )
        now = service.clock()
        await store.record_clicks(
            [ClickEvent(link_id=link.id, workspace_id="default", at=now - timedelta(hours=h))
             for h in (1, 2, 30, 50, 51, 52)]
        )  # fmt: skip
        busy = await _chart(c, chart_width=640, chart_height=320)
        assert png_size(busy) == (640, 320)
        assert busy != empty
        plain = await c.call_tool("get_analytics", {"period": "7d"})
        assert not any(isinstance(b, ImageContent) for b in plain.content)
        bad = await c.call_tool("get_analytics", {"chart": True, "chart_width": 10})
        assert bad.is_error and "chart_width" in bad.content[0].text  # type: ignore[union-attr]
