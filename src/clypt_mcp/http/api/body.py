"""REST request bodies: camelCase names only, checked before the model sees them."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from starlette.requests import Request

from clypt_mcp.errors import BadRequestError
from clypt_mcp.http.api.endpoint import json_body

M = TypeVar("M", bound=BaseModel)


def camel_only(model: type[BaseModel], body: Any, where: str = "") -> None:
    """Refuse a snake_case spelling of one of `model`'s fields (REST speaks camelCase).

    The models accept both spellings (the MCP tools send snake_case); REST documents only
    camelCase, so a second spelling would let `utm_source` and `utmSource` both arrive.

    Raises:
        BadRequestError: naming the field as sent and its REST name.
    """
    if not isinstance(body, dict):
        return  # the model reports a body that is not an object
    for key in body:
        if isinstance(key, str) and key in model.model_fields and to_camel(key) != key:
            raise BadRequestError(
                f"'{where}{key}' is not a field name here: the REST API names fields in "
                f"camelCase — write {where}{to_camel(key)}"
            )


async def rest_body(request: Request, model: type[M]) -> M:
    """The request's JSON body as `model`, with camelCase names only."""
    body = await json_body(request)
    camel_only(model, body)
    return model.model_validate(body)
