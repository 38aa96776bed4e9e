"""How the MCP tools name the actions and fields that error hints mention (errors.TERMS).

The one vocabulary of the MCP surface: embedded tools word hints with it, and so does the REST
API for a Clypt MCP server in remote mode (it asks with the `Clypt-Wording: mcp` header), so an
assistant reads the same hint whichever mode its server runs in.
"""

from collections.abc import Mapping

TOOL_WORDS: Mapping[str, str] = {
    "list_links": "list_links",
    "list_tags": "manage_tags(action='list')",
    "list_folders": "manage_folders(action='list')",
    "next_cursor": "next_cursor",
    "idempotency_key": "idempotency_key",
}
