"""Clypt MCP: a link shortener built to be driven by AI assistants."""

__version__ = "0.1.0"
