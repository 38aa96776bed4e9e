"""The MCP surface: tools, resources, prompts and completion over a Backend."""
