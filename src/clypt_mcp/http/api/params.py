"""Query strings into the same pydantic models the service takes, with REST (camelCase) names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel
from starlette.requests import Request

from clypt_mcp.errors import BadRequestError, ClyptError, InvalidInputError

_MALFORMED = frozenset({"extra_forbidden", "model_type", "dict_type", "json_invalid"})


@dataclass(frozen=True)
class Params:
    """Which fields of `model` a query string may set, and under which REST names."""

    model: type[BaseModel]
    rename: Mapping[str, str] = field(default_factory=dict)  # model field -> REST name
    exclude: frozenset[str] = frozenset()  # model fields set from the path, not the query

    def names(self) -> dict[str, str]:
        """REST name -> model field, in the model's field order."""
        return {
            self.rename.get(name, to_camel(name)): name
            for name in self.model.model_fields
            if name not in self.exclude
        }

    def parse(self, request: Request, **fixed: Any) -> Any:
        """The model built from the query string plus `fixed` values (path parameters).

        Raises:
            BadRequestError: an unknown or repeated parameter.
            InvalidInputError: a value that breaks a rule, naming the parameter.
        """
        names = self.names()
        data: dict[str, Any] = dict(fixed)
        for key, value in request.query_params.multi_items():
            if key not in names:
                known = ", ".join(names) or "none"
                raise BadRequestError(
                    f"{key}: is not a known query parameter here (known: {known})"
                )
            if names[key] in data:
                raise BadRequestError(f"{key}: given more than once — give it once")
            data[names[key]] = value
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            raise self._error(exc) from None

    def _error(self, exc: ValidationError) -> ClyptError:
        back = {model_field: rest for rest, model_field in self.names().items()}
        parts = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = [str(p) for p in err["loc"]]
            if loc:
                loc[0] = back.get(loc[0], loc[0])
            msg = str(err["msg"]).removeprefix("Value error, ")
            parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
        message = "; ".join(parts)
        if {e["type"] for e in exc.errors()} & _MALFORMED:
            return BadRequestError(message)
        return InvalidInputError(message)


def no_params(request: Request) -> None:
    """Reject any query string on endpoints that take none.

    Raises:
        BadRequestError: naming the first parameter.
    """
    for key in request.query_params:
        raise BadRequestError(f"{key}: is not a known query parameter here (this takes none)")
