"""The QR code tool."""

import base64
from typing import Annotated, Literal

import anyio.to_thread
from mcp.server import MCPServer
from mcp.types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from pydantic import Field

from clypt_mcp.backends.base import BackendProvider
from clypt_mcp.core.qr import qr_url, render
from clypt_mcp.tools.common import tool_errors
from clypt_mcp.tools.links import LinkRef


def register(mcp: MCPServer, backends: BackendProvider) -> None:
    """Add get_qr_code to `mcp`."""

    @mcp.tool(
        title="QR code for a short link",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    @tool_errors
    async def get_qr_code(
        link: LinkRef,
        size: Annotated[
            int, Field(ge=64, le=2048, description="Width and height in pixels.")
        ] = 300,
        margin: Annotated[int, Field(ge=0, le=16, description="Quiet zone, in modules.")] = 4,
        format: Annotated[
            Literal["png", "svg"], Field(description="png (default) or svg.")
        ] = "png",
    ) -> CallToolResult:
        """Make a QR code image of a link's short URL, for print or slides."""
        found = await backends().get_link(link)
        data = await anyio.to_thread.run_sync(render, qr_url(found.short_url), size, margin, format)
        mime = "image/png" if format == "png" else "image/svg+xml"
        return CallToolResult(
            content=[
                ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type=mime),
                TextContent(
                    type="text", text=f"QR code ({format}, {size}px) for {found.short_url}"
                ),
            ]
        )
