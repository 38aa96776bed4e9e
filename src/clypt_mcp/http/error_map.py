"""Errors to HTTP: one status table, one body shape `{"error": message, "code": code}`."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.responses import JSONResponse

from clypt_mcp.errors import (
    BadRequestError,
    ClyptError,
    InvalidInputError,
    describe_validation_error,
    rest_wording,
)

log = logging.getLogger(__name__)


def error_body(exc: ClyptError) -> dict[str, str]:
    return {"error": rest_wording(exc.message), "code": exc.code}


def error_response(exc: ClyptError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The response for a ClyptError; a 500 hides its message."""
    if exc.status >= 500 and type(exc) is ClyptError:
        return JSONResponse(
            {"error": "internal error — try again later", "code": exc.code}, status_code=500
        )
    return JSONResponse(error_body(exc), status_code=exc.status, headers=headers)


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
