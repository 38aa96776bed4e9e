"""DEBUG logs hold no notes, titles or URL query strings (issue 21 item 10)."""

from __future__ import annotations

import io
import logging

from clypt_mcp import logredact


def logged(level: int, msg: str, *args: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logredact.RedactingFilter())
    log = logging.getLogger("test.logredact")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        log.log(level, msg, *args)
    finally:
        log.removeHandler(handler)
    return stream.getvalue()


def test_mcp_messages_at_debug_are_withheld() -> None:
    message = (
        "Sending message via SSE: SessionMessage(message=JSONRPCResponse(jsonrpc='2.0', id=3, "
        "result={'notes': 'private plan for Q3', 'title': 'secret launch'}))"
    )
    out = logged(logging.DEBUG, message)
    assert "private plan" not in out and "secret launch" not in out
    assert out.startswith("Sending message via SSE: [") and "withheld" in out


def test_url_query_strings_are_cut_at_every_level() -> None:
    out = logged(logging.WARNING, "redirect for %s failed", "https://e.com/p?token=abc&email=x")
    assert "token" not in out and "abc" not in out
    assert "https://e.com/p?…" in out


def test_other_records_are_left_alone() -> None:
    assert (
        logged(logging.INFO, "housekeeping deleted %d clicks", 5)
        == "housekeeping deleted 5 clicks\n"
    )
