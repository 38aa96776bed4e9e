"""Endpoint: one REST operation, described once for both routing and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from clypt_mcp.core.idempotency import check_key
from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import BadRequestError, InvalidInputError
from clypt_mcp.http.api.params import Params
from clypt_mcp.http.auth import PublicHandler, protected
from clypt_mcp.http.error_map import IDEMPOTENCY_HEADER
from clypt_mcp.http.state import AppState
from clypt_mcp.http.wire import read_json, respond
from clypt_mcp.models import Principal, Scope

Operation = Callable[[Request, Principal], Awaitable[BaseModel | Response]]

# Error statuses every key-authenticated endpoint may answer.
AUTH_ERRORS = (400, 401, 403, 429)
BODY_ERRORS = (409, 413, 422)
# Routes take every method, so that the others get a JSON 405 rather than Starlette's text one.
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


@dataclass(frozen=True)
class Endpoint:
    """A method on a path: what it needs, what it takes and what it answers."""

    method: str
    path: str
    summary: str
    operation: Operation
    scope: Scope | None
    response: type[BaseModel] | None  # None: the operation builds its own (binary) Response
    status: int = 200
    also: tuple[int, ...] = ()  # other success statuses with the same body
    params: Params | None = None
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()  # beyond AUTH_ERRORS
    media: tuple[str, ...] = ("application/json",)
    description: str = ""
    keeps_secret: bool = False  # the body holds a secret: never stored for replays
    slashed_id: bool = False  # {id} may hold slashes (a nested folder's path)
    # The success status of a given answer, when it is not always `status`.
    status_of: Callable[[Any], int] | None = None
    max_body: int | None = None  # a bigger body than wire.MAX_BODY (an import's file)
    any_scope: tuple[Scope, ...] = ()  # scope None: the operation checks one of these itself

    @property
    def operation_id(self) -> str:
        return self.operation.__name__.strip("_")

    def error_statuses(self) -> list[int]:
        return sorted({*AUTH_ERRORS, *self.errors})


async def json_body(request: Request, limit: int | None = None) -> Any:
    """The request's JSON body, read once (the idempotency check may have read it already)."""
    if not hasattr(request.state, "clypt_body"):
        request.state.clypt_body = await (
            read_json(request) if limit is None else read_json(request, limit)
        )
    return request.state.clypt_body


def _sends_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (length is not None and length != "0")


def path_id(request: Request) -> str:
    return str(request.path_params["id"])


def routes(state: AppState, endpoints: list[Endpoint]) -> list[BaseRoute]:
    """One Route per path, dispatching on the method (JSON 405 for the others)."""
    by_path: dict[str, dict[str, PublicHandler]] = {}
    slashed = {ep.path for ep in endpoints if ep.slashed_id}
    for ep in endpoints:
        by_path.setdefault(ep.path, {})[ep.method] = protected(state, _handler(state, ep))
    return [
        Route(
            path.replace("{id}", "{id:path}") if path in slashed else path,
            _dispatch(path, methods),
            methods=ANY_METHOD,
        )
        for path, methods in by_path.items()
    ]


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, if any.

    Raises:
        BadRequestError: when it is empty, too long or not printable ASCII.
    """
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    try:
        return check_key(raw)
    except InvalidInputError as exc:
        raise BadRequestError(exc.hint or exc.message) from None


def canonical(ep: Endpoint, body: Any) -> Any:
    """A POST's input as idempotency compares it: the validated model when the body is valid
    (so that key order, camelCase or snake_case, and an MCP call for the same thing match)."""
    if ep.body is not None:
        try:
            return ep.body.model_validate(body).model_dump(mode="json")
        except ValidationError:
            pass
    return body


def _handler(state: AppState, ep: Endpoint) -> Callable[[Request, Principal], Awaitable[Response]]:
    def answer(result: BaseModel, replayed: bool = False) -> Response:
        status = ep.status_of(result) if ep.status_of is not None else ep.status
        response = respond(result, status)
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    async def handle(request: Request, principal: Principal) -> Response:
        if ep.scope is not None:
            ClyptService.require(principal, ep.scope)
        if ep.method == "POST" and ep.body is None and not _sends_body(request):
            request.state.clypt_body = {}  # an action without fields (verify) may send none
        elif ep.method == "POST" and ep.max_body is not None:
            await json_body(request, ep.max_body)  # read once, under this endpoint's limit
        key = idempotency_key(request) if ep.method == "POST" else None
        if key is None:
            result = await ep.operation(request, principal)
            return result if isinstance(result, Response) else answer(result)
        assert ep.response is not None, "a POST endpoint answers a model"
        body = await json_body(request)

        async def run() -> BaseModel:
            result = await ep.operation(request, principal)
            assert not isinstance(result, Response), "a POST endpoint answers a model"
            return result

        result, replayed = await state.idempotency.once(
            principal.workspace_id,
            key,
            ep.operation_id,
            canonical(ep, body),
            run,
            ep.response,
            secret="secret" if ep.keeps_secret else None,
        )
        return answer(result, replayed)

    return handle


def _dispatch(path: str, methods: dict[str, PublicHandler]) -> PublicHandler:
    if "GET" in methods:
        methods.setdefault("HEAD", methods["GET"])
    allowed = ", ".join(sorted(methods))

    async def dispatch(request: Request) -> Response:
        handler = methods.get(request.method)
        if handler is None:
            return method_not_allowed(request, path, allowed)
        return await handler(request)

    return dispatch


def method_not_allowed(request: Request, path: str, allowed: str) -> Response:
    return JSONResponse(
        {
            "error": f"{request.method} is not allowed on /api/v1{path} — use {allowed}",
            "code": "method_not_allowed",
        },
        status_code=405,
        headers={"Allow": allowed},
    )


async def not_found(request: Request) -> Response:
    """Any other path under /api/v1."""
    return JSONResponse(
        {
            "error": f"no endpoint {request.url.path} — see /api/v1/openapi.json for the API",
            "code": "not_found",
        },
        status_code=404,
    )
