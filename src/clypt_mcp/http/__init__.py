"""The HTTP app: redirects, the REST API v1, /llms.txt, and MCP over Streamable HTTP and SSE."""
