"""What every tool shares: error translation, result shaping, the raw-arguments view."""

import contextvars
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError

from clypt_mcp.errors import ClyptError, describe_validation_error
from clypt_mcp.tools.wording import TOOL_WORDS

P = ParamSpec("P")
R = TypeVar("R")

# The argument names the caller actually sent, set by ArgumentGate for the current tools/call.
# update_link needs it: an absent field stays, an explicit null clears.
SENT_ARGUMENTS: contextvars.ContextVar[frozenset[str] | None] = contextvars.ContextVar(
    "clypt_sent_arguments", default=None
)


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn Clypt errors and validation errors into ToolError, whose text reaches the model."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ClyptError as exc:
            raise ToolError(exc.worded(TOOL_WORDS)) from exc
        except ValidationError as exc:
            raise ToolError(describe_validation_error(exc)) from exc

    return wrapper


def result(model: BaseModel, summary: str) -> CallToolResult:
    """A structured result: a one-line summary for people, then the JSON for text-only clients."""
    data = model.model_dump(mode="json")
    return CallToolResult(
        content=[
            TextContent(type="text", text=summary),
            TextContent(type="text", text=json.dumps(data, ensure_ascii=False)),
        ],
        structured_content=data,
    )


def given(*names: str, values: dict[str, Any]) -> dict[str, Any]:
    """The arguments among `names` that the caller sent (an explicit null included)."""
    sent = SENT_ARGUMENTS.get()
    if sent is None:  # called without the gate (direct calls): fall back to non-null values
        return {n: values[n] for n in names if values.get(n) is not None}
    return {n: values[n] for n in names if n in sent}
