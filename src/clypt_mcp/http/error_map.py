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
    DomainNotVerifiedError,
    InvalidInputError,
    rest_wording,
)
from clypt_mcp.models import rest_words
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
    """The body of an error, its hint in `words`; in the REST API's own words the fields are
    named as REST names them (camelCase)."""
    text = exc.worded(words)
    if words is REST_WORDS:
        text = rest_words(rest_wording(text))
    body = {"error": text, "code": exc.code}
    if isinstance(exc, DomainNotVerifiedError):  # the record to publish, as fields too
        body["txtName"] = str(exc.details.get("txt_name", ""))
        body["txtValue"] = str(exc.details.get("txt_value", ""))
    return body


def error_response(
    exc: ClyptError, headers: dict[str, str] | None = None, request: Request | None = None
) -> JSONResponse:
    """The response for a ClyptError; a 500 hides its message."""
    if exc.status >= 500 and type(exc) is ClyptError:
        return JSONResponse(
            {"error": "internal error — try again later", "code": exc.code}, status_code=500
        )
    retry = exc.details.get("retry_after")
    if isinstance(retry, int) and "Retry-After" not in (headers or {}):
        headers = {**(headers or {}), "Retry-After": str(retry)}
    return JSONResponse(
        error_body(exc, words_for(request)), status_code=exc.status, headers=headers
    )


_NOT_OBJECT = frozenset({"model_type", "dict_type", "model_attributes_type"})


def describe_for_rest(exc: ValidationError) -> str:
    """One line per broken rule, naming the REST field (never the model's class or
    `arguments`): `maxClicks: Input should be greater than or equal to 1`."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        kind = err["type"]
        if kind in _NOT_OBJECT:
            msg = "must be a JSON object"
            loc = loc or "request body"
        elif kind == "extra_forbidden":
            msg = "is not a known field — remove it (check the spelling; names are camelCase)"
        elif kind == "missing":
            msg = "is required"
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return rest_words("; ".join(parts))


def from_validation(exc: ValidationError) -> ClyptError:
    """Unknown fields and malformed shapes are 400; broken rules are 422."""
    message = describe_for_rest(exc)
    kinds = {e["type"] for e in exc.errors()}
    if "extra_forbidden" in kinds or kinds & {"model_type", "dict_type", "json_invalid"}:
        return BadRequestError(message)
    return InvalidInputError(message)


def unexpected(exc: BaseException) -> JSONResponse:
    log.exception("unexpected error in a request", exc_info=exc)
    return error_response(ClyptError("internal error"))
