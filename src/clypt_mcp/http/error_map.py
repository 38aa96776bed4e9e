"""Errors to HTTP: one status table, one body shape `{"error": message, "code": code}`, with
hints in the REST API's words."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from clypt_mcp.errors import (
    BadRequestError,
    ClyptError,
    InvalidInputError,
    describe_validation_error,
)
from clypt_mcp.tools.wording import TOOL_WORDS

log = logging.getLogger(__name__)
IDEMPOTENCY_HEADER = "Idempotency-Key"


# How the REST API names the actions and fields hints mention (errors.TERMS).
REST_WORDS: Mapping[str, str] = {
    "list_links": "GET /api/v1/links",
    "list_tags": "GET /api/v1/tags",
    "list_folders": "GET /api/v1/folders",
    "next_cursor": "nextCursor",
    "idempotency_key": IDEMPOTENCY_HEADER,
}
# A Clypt MCP server in remote mode sends this header (value `mcp`) so that the hints it passes
# on to its assistant name tools, as an embedded server's do.
WORDING_HEADER = "Clypt-Wording"


def words_for(request: Request | None) -> Mapping[str, str]:
    if request is not None and request.headers.get(WORDING_HEADER, "").lower() == "mcp":
        return TOOL_WORDS
    return REST_WORDS


def error_body(exc: ClyptError, words: Mapping[str, str] = REST_WORDS) -> dict[str, str]:
    return {"error": exc.worded(words), "code": exc.code}


def error_response(
    exc: ClyptError, headers: dict[str, str] | None = None, request: Request | None = None
) -> JSONResponse:
    """The response for a ClyptError; a 500 hides its message."""
    if exc.status >= 500 and type(exc) is ClyptError:
        return JSONResponse(
            {"error": "internal error — try again later", "code": exc.code}, status_code=500
        )
    return JSONResponse(
        error_body(exc, words_for(request)), status_code=exc.status, headers=headers
    )


def from_validation(exc: ValidationError) -> ClyptError:
    """Unknown fields and malformed shapes are 400; broken rules are 422."""
    message = describe_validation_error(exc)
    kinds = {e["type"] for e in exc.errors()}
    if "extra_forbidden" in kinds or kinds & {"model_type", "dict_type", "json_invalid"}:
        return BadRequestError(message)
    return InvalidInputError(message)


def unexpected(exc: BaseException) -> JSONResponse:
    log.exception("unexpected error in a request", exc_info=exc)
    return error_response(ClyptError("internal error"))
