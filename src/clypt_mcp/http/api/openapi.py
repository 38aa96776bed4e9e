"""The OpenAPI 3.1 document of /api/v1, built from the endpoints and their pydantic models.

Input models accept both spellings and output models are rendered camelCase by `wire.camelize`,
so every schema's property names (and `required` lists) are camelized here the same way.
Outputs always carry every field (null when empty), so all their properties are required.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from clypt_mcp import __version__
from clypt_mcp.http.api.endpoint import Endpoint
from clypt_mcp.http.api.params import Params
from clypt_mcp.http.error_map import IDEMPOTENCY_HEADER as HEADER

REF = "#/components/schemas/{model}"
ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "description": "Every error: a message to act on and a stable machine code.",
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "What happened and what to do next."},
        "code": {
            "type": "string",
            "description": "bad_request, unauthenticated, insufficient_scope, not_found, "
            "conflict, code_taken, tag_taken, domain_not_verified, payload_too_large, "
            "invalid_input, rate_limited, internal_error, unavailable.",
        },
        "txtName": {
            "type": "string",
            "description": "domain_not_verified only: the name of the TXT record to publish.",
        },
        "txtValue": {
            "type": "string",
            "description": "domain_not_verified only: the value that record must have.",
        },
    },
    "required": ["error", "code"],
    "additionalProperties": False,
}
ERROR_TEXT = {
    400: "Malformed request: bad JSON, an unknown field or query parameter.",
    401: "Missing or unknown API key (unauthenticated), or a revoked (key_revoked) or expired "
    "(key_expired) one.",
    403: "The key lacks the scope this needs (insufficient_scope), is used from an address "
    "outside its allow-list (ip_not_allowed), or a workspace limit is reached "
    "(quota_exceeded).",
    404: "No such object in this workspace (another workspace's id answers the same).",
    409: "Conflict: code or name taken, key limit reached, Idempotency-Key reused, or a "
    "domain not verified (domain_not_verified) or verified by another workspace.",
    413: "Request body over 100 KB.",
    422: "A value breaks a rule; the message names the field and the rule.",
    429: "Over the rate limit; retry after Retry-After seconds.",
}
ID_TEXT = {
    "links": "The link's id, or its code.",
    "tags": "The tag's id, or its name.",
    "folders": "The folder's id, or its path (a nested folder: Marketing/2026, slashes and all).",
    "keys": "The key's id.",
    "domains": "The domain's id, or its host name.",
}
RATE_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed per window for this key.",
    "X-RateLimit-Remaining": "Requests left in the current window.",
    "X-RateLimit-Reset": "Unix time the current window ends.",
}


def document(endpoints: list[Endpoint]) -> dict[str, Any]:
    """The whole OpenAPI document for `endpoints`."""
    schemas = component_schemas(endpoints)
    paths: dict[str, dict[str, Any]] = {
        "/": {"get": _index_operation()},
        "/openapi.json": {"get": _self_operation()},
    }
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, schemas)
    if "Link" in schemas:
        paths["/guest-links"] = {"post": _guest_operation()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Clypt REST API",
            "version": __version__,
            "description": "Short links, tags, folders, click analytics and API keys. JSON in "
            "camelCase; auth with `Authorization: Bearer clypt_…`. POST honours "
            f"`{HEADER}`: the same key and body replay the first answer.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key, `clypt_…`, from `clypt-mcp keys create`.",
                }
            },
            "headers": {
                name: {"description": text, "required": True, "schema": {"type": "integer"}}
                for name, text in {**RATE_HEADERS, "Retry-After": "Seconds to wait."}.items()
            },
        },
    }


def component_schemas(endpoints: list[Endpoint]) -> dict[str, Any]:
    """camelCase schemas of every request body (validation) and response (serialization)."""
    bodies = _unique(ep.body for ep in endpoints)
    answers = _unique(ep.response for ep in endpoints)
    out: dict[str, Any] = {"Error": ERROR_SCHEMA}
    _add(out, _defs(bodies, "validation"), all_required=False)
    _add(out, _defs(answers, "serialization"), all_required=True)
    return out


def _unique(models: Any) -> list[type[BaseModel]]:
    return list(dict.fromkeys(m for m in models if m is not None))


def _defs(models: list[type[BaseModel]], mode: JsonSchemaMode) -> dict[str, Any]:
    _, top = models_json_schema([(m, mode) for m in models], ref_template=REF)
    defs: dict[str, Any] = top.get("$defs", {})
    return defs


def _add(out: dict[str, Any], defs: dict[str, Any], all_required: bool) -> None:
    for name, raw in defs.items():
        schema = camelize_schema(raw)
        if all_required and "properties" in schema:
            schema["required"] = list(schema["properties"])
        if name in out and out[name] != schema:
            raise ValueError(f"two different schemas are named {name}")
        out[name] = schema


def camelize_schema(node: Any) -> Any:
    """Rename object property names (and `required`) to camelCase, recursively."""
    if isinstance(node, list):
        return [camelize_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: camelize_schema(v) for k, v in node.items() if k not in ("properties", "required")}
    props = node.get("properties")
    if isinstance(props, dict):
        out["properties"] = {
            to_camel(name): _untitled(camelize_schema(sub)) for name, sub in props.items()
        }
        if "required" in node:
            out["required"] = [to_camel(r) for r in node["required"]]
    elif "required" in node:
        out["required"] = node["required"]
    return out


def _untitled(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema.pop("title", None)  # pydantic's titles spell the snake_case names
    return schema


def _operation(ep: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.operation_id,
        "summary": ep.summary,
        "tags": [ep.path.strip("/").split("/")[0]],
    }
    scope = f" Needs the `{ep.scope.value}` scope." if ep.scope else ""
    op["description"] = (ep.description + scope).strip()
    params = _parameters(ep, schemas)
    if params:
        op["parameters"] = params
    if ep.body is not None:
        body = {"schema": {"$ref": REF.format(model=ep.body.__name__)}}
        op["requestBody"] = {"required": True, "content": {"application/json": body}}
    if ep.scope is not None:
        op["security"] = [{"bearer": [ep.scope.value]}]
    elif ep.any_scope:  # one of these, by what the request names (an export's kind)
        op["security"] = [{"bearer": [s.value]} for s in ep.any_scope]
    op["responses"] = _responses(ep)
    return op


def _parameters(ep: Endpoint, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if "{id}" in ep.path:
        out.append(
            {
                "name": "id",
                "in": "path",
                "required": True,
                "description": ID_TEXT.get(ep.path.split("/")[1], "The object's id."),
                "schema": {"type": "string", "minLength": 1},
            }
        )
    if ep.params is not None:
        out.extend(query_parameters(ep.params, schemas))
    if ep.method == "POST":
        out.append(
            {
                "name": HEADER,
                "in": "header",
                "required": False,
                "description": "Any unique string (a UUID): a retry with the same key and "
                "body within 24 hours gets the first answer again, never a duplicate; another "
                "body is a 409.",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "pattern": "^ *[!-~][ -~]*$",
                },
            }
        )
    return out


def query_parameters(params: Params, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """One query parameter per field `params` exposes, with the field's schema."""
    top = params.model.model_json_schema(ref_template=REF)
    _add(schemas, top.pop("$defs", {}), all_required=False)
    props = top.get("properties", {})
    out = []
    for rest_name, field in params.names().items():
        schema = _not_null(dict(props[field]))
        schema.pop("title", None)
        item: dict[str, Any] = {"name": rest_name, "in": "query", "required": False}
        description = schema.pop("description", None)
        if description:
            item["description"] = description
        item["schema"] = schema
        out.append(item)
    return out


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query value is never JSON null: drop the null branch of optional fields."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o != {"type": "null"}]
        if len(rest) == 1:
            schema.pop("anyOf")
            schema = {**rest[0], **schema}
    if schema.get("default", 0) is None:
        schema.pop("default")
    return schema


def _responses(ep: Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in (ep.status, *ep.also):
        out[str(status)] = {"description": ep.summary, "headers": _headers()}
        if status != 204:  # No Content
            out[str(status)]["content"] = _content(ep)
    for status in ep.error_statuses():
        response: dict[str, Any] = {
            "description": ERROR_TEXT[status],
            "content": {"application/json": {"schema": ERROR}},
        }
        if status != 401:  # every answer after authentication carries the rate-limit headers
            response["headers"] = _headers(retry=status == 429)
        out[str(status)] = response
    return out


def _content(ep: Endpoint) -> dict[str, Any]:
    if ep.response is None:
        return {media: {"schema": {"type": "string", "format": "binary"}} for media in ep.media}
    ref = {"$ref": REF.format(model=ep.response.__name__)}
    return {media: {"schema": ref} for media in ep.media}


def _headers(retry: bool = False) -> dict[str, Any]:
    names = [*RATE_HEADERS, "Retry-After"] if retry else list(RATE_HEADERS)
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _index_operation() -> dict[str, Any]:
    return {
        "operationId": "index",
        "summary": "Where the API is described",
        "tags": ["meta"],
        "security": [],
        "responses": {
            "200": {
                "description": "Links to this document and to the guides for agents.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                name: {"type": "string"}
                                for name in ("name", "version", "openapi", "guide", "reference")
                            },
                            "required": ["name", "version", "openapi", "guide", "reference"],
                        }
                    }
                },
            }
        },
    }


def _guest_operation() -> dict[str, Any]:
    """POST /guest-links (http/guest.py): no key, only when the operator turned it on."""

    def error(text: str, retry: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "description": text,
            "content": {"application/json": {"schema": ERROR}},
        }
        if retry:
            out["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        return out

    return {
        "operationId": "create_guest_link",
        "summary": "Make a temporary guest link, without a key",
        "description": "Only when the server runs with CLYPT_GUEST_LINKS=on (else 404). A "
        "generated code, no options, expiresAt 7 days on; then deleted for good. Limited per "
        "client address (CLYPT_GUEST_RATE_LIMIT, default 10/hour) and in total.",
        "tags": ["links"],
        "security": [],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"url": {"type": "string", "maxLength": 2048}},
                        "required": ["url"],
                        "additionalProperties": False,
                    }
                }
            },
        },
        "responses": {
            "201": {
                "description": "The link, with a note that it is temporary.",
                "content": {
                    "application/json": {
                        "schema": {
                            "allOf": [
                                {"$ref": "#/components/schemas/Link"},
                                {
                                    "type": "object",
                                    "properties": {"note": {"type": "string"}},
                                    "required": ["note"],
                                },
                            ]
                        }
                    }
                },
            },
            "400": error(ERROR_TEXT[400]),
            "404": error("Guest links are off on this server."),
            "405": error("Only POST."),
            "413": error(ERROR_TEXT[413]),
            "422": error(ERROR_TEXT[422]),
            "429": error(
                "Too many guest links from this address, or on this server; retry after "
                "Retry-After seconds.",
                retry=True,
            ),
        },
    }


def _self_operation() -> dict[str, Any]:
    return {
        "operationId": "openapi",
        "summary": "This document",
        "tags": ["meta"],
        "security": [],
        "responses": {
            "200": {
                "description": "The OpenAPI 3.1 document of the Clypt REST API.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    }
