"""One source per link field: every field of models.LINK_INPUTS reaches each surface — the MCP
tools' input schemas (with the model's limits), the REST models and answers, the store's
columns and record, `Link`, and the CSV exports and imports. A new field added to the table
(and to the model, `Link`, the store's record and the migrations) is checked here without
touching this file, except for a sample value in SAMPLES."""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

import pytest
from mcp import Client
from pydantic.alias_generators import to_camel

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.core import exports
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.web.linkform import CLEARABLE, TEXT_FIELDS
from clypt_mcp.models import (
    LINK_INPUTS,
    PLAIN_LINK_FIELDS,
    USER_KEY_MAPS,
    Link,
    LinkCreate,
    LinkUpdate,
    Principal,
)
from clypt_mcp.store.base import LINK_COLUMNS, LinkRecord
from clypt_mcp.tools.server import build_server
from tests.http.rest import Api

pytestmark = pytest.mark.anyio

# A valid value for every field, as create_link takes it (JSON).
SAMPLES: dict[str, Any] = {
    "url": "https://example.com/fields",
    "code": "every-field",
    "title": "Every field",
    "tags": ["one", "two"],
    "folder": "Fields/All",
    "notes": "private words",
    "utm_source": "src",
    "utm_medium": "med",
    "utm_campaign": "camp",
    "utm_term": "term",
    "utm_content": "cont",
    "starts_at": "2026-03-01T00:00:00Z",
    "expires_at": "2027-03-01T00:00:00Z",
    "max_clicks": 42,
    "password": "open sesame",
    "variants": [
        {"url": "https://example.com/a", "weight": 1, "label": "a"},
        {"url": "https://example.com/b", "weight": 3, "label": "b"},
    ],
    "geo": {"DE": "https://example.de/"},
    "devices": {"ios": "https://example.com/ios"},
    "domain": "clypt.test",  # the server's own host: every workspace may use it
    "preview": {"title": "Card", "description": "Its text", "image": "https://example.com/i.png"},
    "track_conversions": True,
    "ab_test": {"goal": "signup", "min_visitors_per_variant": 50, "confidence": 0.9},
}
# Where a resolved (not plain) field shows in `Link`, and how.
SHOWN: dict[str, tuple[str, Any]] = {
    "url": ("url", SAMPLES["url"]),
    "code": ("code", SAMPLES["code"]),
    "tags": ("tags", SAMPLES["tags"]),
    "folder": ("folder", SAMPLES["folder"]),
    "password": ("has_password", True),
    "devices": ("devices", SAMPLES["devices"]),
    "domain": ("domain", SAMPLES["domain"]),
    "track_conversions": ("track_conversions", True),
    "ab_test": ("ab_test", SAMPLES["ab_test"]),  # the result holds the spec's settings
}
# The store column a resolved field lands in (tags: the link_tags table).
COLUMN = {"folder": "folder_id", "password": "password_hash", "domain": "domain_id"}


def _json(link: Link) -> dict[str, Any]:
    return link.model_dump(mode="json")


def _shown(name: str) -> tuple[str, Any]:
    """The Link field a sample shows in, and the value it shows there (as JSON)."""
    if name in SHOWN:
        return SHOWN[name]
    value = SAMPLES[name]
    if name == "variants":  # shown with their click counts
        value = [{**v, "clicks": 0} for v in value]
    return name, value


def _holds(shown: Any, value: Any) -> bool:
    """A shown value is the sample's; a dict shown with more keys (an A/B test's result beside
    its settings) holds the sample's keys with their values."""
    if isinstance(value, dict) and isinstance(shown, dict) and "goal" in value:
        return all(shown.get(k) == v for k, v in value.items())
    return bool(shown == value)


def test_every_field_of_the_table_has_a_sample_and_is_the_models() -> None:
    assert set(SAMPLES) == set(LINK_INPUTS), "give the new field a sample value in SAMPLES"
    assert list(LinkCreate.model_fields) == list(LINK_INPUTS)
    assert list(LinkUpdate.model_fields) == [*LINK_INPUTS, "disabled", "deleted"]
    assert set(SHOWN) == set(LINK_INPUTS) - set(PLAIN_LINK_FIELDS)
    assert {"geo", "devices"} <= USER_KEY_MAPS <= set(LINK_INPUTS)


def test_the_dashboard_form_names_only_fields_of_the_table() -> None:
    """The dashboard shows the fields it has a control for (its template); those it names
    are the table's, so a renamed field cannot leave the form behind."""
    assert set(TEXT_FIELDS) | set(CLEARABLE) <= set(LINK_INPUTS)


def test_every_field_has_a_store_column_and_a_place_in_link() -> None:
    record = {f.name for f in dataclasses.fields(LinkRecord)}
    for name in LINK_INPUTS:
        if name == "tags":
            continue
        column = COLUMN.get(name, name)
        assert column in LINK_COLUMNS, f"{name}: no settable column {column} in store LINK_FIELDS"
        assert column in record, f"{name}: LinkRecord has no {column}"
        assert _shown(name)[0] in Link.model_fields, f"{name}: not shown in Link"


async def test_tool_schemas_take_every_field_with_the_models_limits(
    service: ClyptService,
) -> None:
    backend = LocalBackend(service, Principal(workspace_id="default"))
    async with Client(build_server(lambda: backend)) as client:
        tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
    for tool, model in (("create_link", LinkCreate), ("update_link", LinkUpdate)):
        props = tools[tool]["properties"]
        rules = model.model_json_schema()["properties"]
        for name, spec in LINK_INPUTS.items():
            prop = dict(props[name])
            doc = spec.doc if tool == "create_link" else spec.update_doc or spec.doc
            assert prop.pop("description") == doc, (tool, name)
            assert prop == rules[name], (tool, name)  # the model's own type and limits
    assert tools["create_link"]["required"] == ["url"]


async def test_every_field_goes_in_by_mcp_and_out_by_rest_and_the_exports(
    service: ClyptService, api: Api, admin_key: str
) -> None:
    principal = Principal(workspace_id="default")
    backend = LocalBackend(service, principal)
    async with Client(build_server(lambda: backend)) as client:
        made = await client.call_tool("create_link", SAMPLES)
    assert not made.is_error, made.content
    link = await service.get_link(principal, SAMPLES["code"])
    shown = _json(link)
    for name in LINK_INPUTS:
        field, value = _shown(name)
        assert _holds(shown[field], value), name

    rest = (await api.get(f"/links/{link.id}", admin_key)).json()
    for name in LINK_INPUTS:
        field, value = _shown(name)
        if field in USER_KEY_MAPS:
            assert rest[to_camel(field)] == value, name  # user keys kept as they are
        elif name not in ("variants", "preview", "ab_test"):
            assert rest[to_camel(field)] == value, name
    assert rest["preview"] == SAMPLES["preview"]
    assert rest["variants"][0]["url"] == SAMPLES["variants"][0]["url"]
    assert rest["abTest"]["goal"] == SAMPLES["ab_test"]["goal"]
    assert rest["abTest"]["minVisitorsPerVariant"] == SAMPLES["ab_test"]["min_visitors_per_variant"]

    out = io.StringIO()
    assert await exports.export_links(service, principal, out) == 1
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    exported = [name for name, spec in LINK_INPUTS.items() if spec.export]
    assert set(exported) <= set(row) and set(exported) == exports.IMPORT_COLUMNS
    for name in exported:
        value = SAMPLES[name]
        if name == "tags":
            value = ",".join(value)
        assert row[name] == str(value), name
    # and the exported columns read back as create_link's input
    back = io.StringIO()
    writer = csv.DictWriter(back, exported)
    writer.writeheader()
    writer.writerow({k: row[k] for k in exported})
    item = exports.read_link_rows(iter(back.getvalue().splitlines(keepends=True)))[0]
    assert LinkCreate.model_validate(item) == LinkCreate.model_validate(
        {k: SAMPLES[k] for k in exported}
    )


async def test_update_link_clears_every_plain_field_with_null(service: ClyptService) -> None:
    principal = Principal(workspace_id="default")
    backend = LocalBackend(service, principal)
    async with Client(build_server(lambda: backend)) as client:
        assert not (await client.call_tool("create_link", SAMPLES)).is_error
        cleared = await client.call_tool(
            "update_link",
            {"link": SAMPLES["code"], **dict.fromkeys(PLAIN_LINK_FIELDS), "ab_test": None},
        )
    assert not cleared.is_error, cleared.content
    shown = _json(await service.get_link(principal, SAMPLES["code"]))
    assert all(shown[name] is None for name in PLAIN_LINK_FIELDS), shown
