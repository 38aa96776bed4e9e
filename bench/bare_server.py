"""Baseline for bench/cold_start.py: a bare MCPServer with one trivial tool, served over stdio."""

from mcp.server import MCPServer

mcp = MCPServer("bare")


@mcp.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


if __name__ == "__main__":
    mcp.run()
