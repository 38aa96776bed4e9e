"""Keep private text out of DEBUG logs.

At DEBUG the MCP SDK logs whole JSON-RPC messages (tool arguments and results: notes, titles,
destinations). `RedactingFilter`, on every handler `install` finds on the root logger, replaces
such a message's body with its size, and cuts the query string off every URL a record holds
(query strings carry tokens and personal data), whatever logger wrote it.
"""

from __future__ import annotations

import logging
import re

_URL_QUERY = re.compile(r"(https?://[^\s?#'\"<>]+)\?[^\s#'\"<>]*")
_JSONRPC = re.compile(r"jsonrpc|JSONRPC|SessionMessage|tools/call|structured_content")


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not format: leave it to the handler
            return True
        redacted = text
        if record.levelno < logging.INFO and _JSONRPC.search(text):
            head = text.split(":", 1)[0] if ":" in text[:80] else "MCP message"
            redacted = f"{head}: [{len(text)} characters of message withheld]"
        redacted = _URL_QUERY.sub(r"\1?…", redacted)
        if redacted != text:
            record.msg, record.args = redacted, None
        return True


def install() -> None:
    """Add the filter to every handler of the root logger (after `logging.basicConfig`)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
