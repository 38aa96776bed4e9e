"""/api/v1/openapi.json: a valid OpenAPI 3.1 document, generated from the models it describes."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
import schemathesis

from tests.http.rest import Api
from tests.http.seed import ENDPOINTS

pytestmark = pytest.mark.anyio


def _schema(api: Api, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = api.document["components"]["schemas"][name]
    return schema


async def test_the_document_is_public_and_valid_openapi_3_1(api: Api) -> None:
    r = await api.http.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    document = r.json()
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


async def test_every_operation_declares_bearer_auth_with_its_scope(api: Api) -> None:
    document = api.document
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key, `clypt_…`, from `clypt-mcp keys create`.",
    }
    assert document["paths"]["/openapi.json"]["get"]["security"] == []
    for method, path, scope, _, status in ENDPOINTS:
        template = path.replace("{link}", "{id}").replace("{tag}", "{id}")
        template = template.replace("{folder}", "{id}").replace("{key}", "{id}")
        template = (
            template.replace("{app}", "{id}")
            .replace("{webhook}", "{id}")
            .replace("{domain}", "{id}")
        )
        template = template.replace("{job}", "{id}")
        op = document["paths"][template][method.lower()]
        if len(op["security"]) > 1:  # one scope of several, by kind (exports, jobs)
            assert {"bearer": [scope.value]} in op["security"]
        else:
            assert op["security"] == [{"bearer": [scope.value]}]
        assert {"401", "403", "429", str(status)} <= set(op["responses"])
        assert op["responses"]["429"]["headers"]["Retry-After"]
        names = [p["name"] for p in op.get("parameters", [])]
        assert ("Idempotency-Key" in names) == (method == "POST")
        assert ("id" in names) == ("{id}" in template)


async def test_link_schemas_are_camel_case_and_match_a_real_link_exactly(
    api: Api, admin_key: str
) -> None:
    link = (await api.post("/links", admin_key, json={"url": "https://e.com"})).json()
    schema = _schema(api, "Link")
    assert list(schema["properties"]) == list(link)
    assert schema["required"] == list(link)
    create = _schema(api, "LinkCreate")
    assert create["required"] == ["url"]
    assert create["additionalProperties"] is False
    assert {"utmSource", "startsAt", "expiresAt", "maxClicks"} <= set(create["properties"])
    assert not any("_" in name for name in create["properties"])


async def test_analytics_schema_matches_the_product_names(api: Api) -> None:
    props = _schema(api, "Analytics")["properties"]
    assert {"totalClicks", "clicksInPeriod", "uniqueVisitors", "timeseries"} <= set(props)
    assert "botsIncluded" in _schema(api, "AnalyticsWindow")["properties"]


async def test_query_parameters_use_the_rest_names(api: Api) -> None:
    def names(path: str) -> list[str]:
        return [p["name"] for p in api.document["paths"][path]["get"]["parameters"]]

    assert names("/links") == ["q", "tag", "folder", "status", "domain", "sort", "limit", "cursor"]
    assert names("/analytics") == [
        "tag",
        "folder",
        "period",
        "start",
        "end",
        "interval",
        "top",
        "timezone",
        "includeBots",
    ]
    assert names("/links/{id}/qr") == ["id", "size", "margin", "format"]
    limit = api.document["paths"]["/links"]["get"]["parameters"][6]["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 100)


async def test_the_error_schema_is_exactly_error_and_code(api: Api, admin_key: str) -> None:
    schema = _schema(api, "Error")
    assert schema["required"] == ["error", "code"]
    assert schema["additionalProperties"] is False
    r = await api.get("/links/lnk_missing", admin_key)
    assert set(r.json()) == {"error", "code"}
