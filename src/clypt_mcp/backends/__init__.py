"""What the MCP tools talk to: the embedded service, or (later) a remote Clypt REST API."""
