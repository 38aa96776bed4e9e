"""REST JSON: camelCase keys out, bodies in with a size limit."""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from clypt_mcp.errors import BadRequestError, PayloadTooLargeError
from clypt_mcp.models import USER_KEY_MAPS

MAX_BODY = 100 * 1024
# Maps whose keys are user data (country codes, device kinds), never renamed.
_OPAQUE_KEYS = USER_KEY_MAPS | {"revenue"}  # revenue: per currency code


@functools.lru_cache(maxsize=1024)
def _camel(key: str) -> str:
    return to_camel(key)  # a regex walk (~10 µs): each key is converted once per process


def camelize(value: Any) -> Any:
    """Rename dict keys to camelCase, recursively, leaving user-data maps alone."""
    if isinstance(value, dict):
        return {_camel(k): (v if k in _OPAQUE_KEYS else camelize(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value


def to_rest(model: BaseModel | dict[str, Any] | list[Any]) -> Any:
    data = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    return camelize(data)


def respond(
    model: BaseModel | dict[str, Any] | list[Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(to_rest(model), status_code=status, headers=headers)


async def read_json(request: Request, limit: int = MAX_BODY) -> Any:
    """The request body as JSON.

    Raises:
        PayloadTooLargeError: over `limit` bytes (100 KB unless the endpoint says more).
        BadRequestError: not JSON, or cut short by the client.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body is over {limit // 1024} KB — send less")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                raise PayloadTooLargeError(f"request body is over {limit // 1024} KB — send less")
    except ClientDisconnect:  # gone, or cut off for sending too slowly: no one to answer
        raise BadRequestError("the request body ended early — send all of it") from None
    if not body:
        raise BadRequestError("request body is empty — send a JSON object")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequestError("request body is not valid JSON") from None
    except RecursionError:
        raise BadRequestError(
            "request body is nested too deeply — send objects and arrays at most a few levels deep"
        ) from None
