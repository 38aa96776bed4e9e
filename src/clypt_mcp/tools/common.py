"""What every tool shares: error translation, result shaping, the raw-arguments view."""

import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError

from clypt_mcp.errors import ClyptError, describe_validation_error
from clypt_mcp.models import Link
from clypt_mcp.tools.shaping import CEILING, CUT_MARK, drop_empty, object_result, size
from clypt_mcp.tools.wording import TOOL_WORDS

P = ParamSpec("P")

# The argument names the caller actually sent, set by ArgumentGate for the current tools/call.
# update_link needs it: an absent field stays, an explicit null clears.
SENT_ARGUMENTS: contextvars.ContextVar[frozenset[str] | None] = contextvars.ContextVar(
    "clypt_sent_arguments", default=None
)


def error_result(message: str) -> CallToolResult:
    """An isError result whose text is `message` alone (no SDK prefix)."""
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def tool_errors(
    fn: Callable[P, Awaitable[CallToolResult]],
) -> Callable[P, Awaitable[CallToolResult]]:
    """Turn Clypt errors, validation errors and ToolErrors into isError results whose text is
    the message itself: what to change, without the SDK's "Error executing tool" prefix."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        try:
            return await fn(*args, **kwargs)
        except ClyptError as exc:
            return error_result(exc.worded(TOOL_WORDS))
        except ValidationError as exc:
            return error_result(describe_validation_error(exc))
        except ToolError as exc:
            return error_result(str(exc))

    return wrapper


def result(model: BaseModel, summary: str) -> CallToolResult:
    """A structured result: a one-line summary for people, then the compact JSON for text-only
    clients, each within the byte ceiling."""
    return object_result(model.model_dump(mode="json"), summary)


def link_result(link: Link, summary: str) -> CallToolResult:
    """One whole link, without its empty fields. A link over the ceiling (only a map of 50
    long geo URLs gets there) has values cut, and the text says where the whole one is."""
    data = drop_empty(link.model_dump(mode="json"))
    if size(data) > CEILING:
        summary += (
            f" (over {CEILING // 1000} KB: long values cut with '{CUT_MARK}'; read the resource "
            f"clypt://links/{link.code} for all of it)"
        )
    return object_result(data, summary)


def given(*names: str, values: dict[str, Any]) -> dict[str, Any]:
    """The arguments among `names` that the caller sent (an explicit null included)."""
    sent = SENT_ARGUMENTS.get()
    if sent is None:  # called without the gate (direct calls): fall back to non-null values
        return {n: values[n] for n in names if values.get(n) is not None}
    return {n: values[n] for n in names if n in sent}
