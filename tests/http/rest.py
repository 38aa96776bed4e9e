"""A REST client for tests that checks every answer against the served OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import jsonschema_rs

PREFIX = "/api/v1"


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def template_of(document: dict[str, Any], path: str) -> str | None:
    """The documented path template `path` matches, e.g. `/links/{id}` for `/links/lnk_1`."""
    bare = path.split("?", 1)[0]
    for segment in ("[^/]+", ".+"):  # then a folder's path, slashes and all, as its {id}
        for template in document["paths"]:
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", segment, re.escape(template)) + "$"
            if re.match(pattern, bare):
                return str(template)
    return None


def schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """A validator for `schema`, resolving `#/components/...` references in `document`."""
    root = {**schema, "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def conform(document: dict[str, Any], method: str, path: str, response: httpx2.Response) -> None:
    """Assert that `response` is one the document promises for `method path`."""
    template = template_of(document, path)
    if template is None or method.lower() not in document["paths"][template]:
        assert response.status_code in (404, 405), (method, path, response.status_code)
        assert set(response.json()) == {"error", "code"}
        return
    operation = document["paths"][template][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {template} answered undocumented {status}"
    spec = operation["responses"][status]
    for header in spec.get("headers", {}):
        assert header in response.headers, f"{method} {template} {status} lacks {header}"
    if "content" not in spec:
        assert not response.content, f"{method} {template} {status} has a body"
        return
    media = response.headers.get("content-type", "").split(";")[0]
    assert media in spec["content"], f"{method} {template} {status} answered {media}"
    if method.upper() == "HEAD" or media != "application/json":
        return
    validator = schema_validator(document, spec["content"][media]["schema"])
    errors = [e.message for e in validator.iter_errors(response.json())]
    assert not errors, f"{method} {template} {status}: {errors}"


class Api:
    """Calls /api/v1 with an optional key; each answer is checked with `conform`."""

    def __init__(self, http: httpx2.AsyncClient, document: dict[str, Any]) -> None:
        self.http = http
        self.document = document

    async def request(
        self,
        method: str,
        path: str,
        key: str | None = None,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.Response:
        response = await self.http.request(
            method,
            PREFIX + path,
            json=json,
            content=content,
            params=params,
            headers={**bearer(key), **(headers or {})},
        )
        conform(self.document, method, path, response)
        return response

    async def get(self, path: str, key: str | None = None, **kw: Any) -> httpx2.Response:
        return await self.request("GET", path, key, **kw)

    async def post(self, path: str, key: str | None = None, **kw: Any) -> httpx2.Response:
        return await self.request("POST", path, key, **kw)

    async def patch(self, path: str, key: str | None = None, **kw: Any) -> httpx2.Response:
        return await self.request("PATCH", path, key, **kw)

    async def delete(self, path: str, key: str | None = None, **kw: Any) -> httpx2.Response:
        return await self.request("DELETE", path, key, **kw)
