"""llms.txt and llms-full.txt are exact: checked against the served OpenAPI document and the
MCP tools/list of a server with every scope (tests/agent_docs.py reads the guides)."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from mcp import Client

from clypt_mcp.assets import full_guide_text, guide_text
from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import ClyptError
from clypt_mcp.http.app import create_app
from clypt_mcp.models import ALL_SCOPES, Principal
from clypt_mcp.tools.server import build_server
from tests.agent_docs import Facts, problems, table_rows
from tests.conftest import BASE_URL

pytestmark = pytest.mark.anyio


@pytest.fixture
async def facts(service: ClyptService) -> AsyncIterator[Facts]:
    app = create_app(service, Settings(base_url=BASE_URL), ClickRecorder(service.store),
                     with_mcp=False, store=service.store)  # fmt: skip
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url=BASE_URL
    ) as http:
        document = (await http.get("/api/v1/openapi.json")).json()
    backend = LocalBackend(service, Principal(workspace_id="default", scopes=ALL_SCOPES))
    async with Client(build_server(lambda: backend, ALL_SCOPES)) as client:
        listed = (await client.list_tools()).tools
        prompts = {
            p.name: [a.name for a in p.arguments or []]
            for p in (await client.list_prompts()).prompts
        }
    tools = {t.name: {"input": t.input_schema, "output": t.output_schema} for t in listed}
    codes = {code: cls.status for code, cls in ClyptError.registry.items()}
    yield Facts(document, tools, codes, prompts)


def test_llms_txt_follows_the_llmstxt_org_layout() -> None:
    lines = guide_text().splitlines()
    assert lines[0] == "# Clypt" and lines[1] == ""
    assert lines[2].startswith("> ")
    assert sum(line.startswith("# ") for line in lines) == 1
    assert not any(line.startswith("### ") for line in lines)
    h2 = [i for i, line in enumerate(lines) if line.startswith("## ")]
    assert h2 and lines[h2[-1]] == "## Optional"
    assert not any(line.startswith("#") for line in lines[3 : h2[0]])  # free text: no headings
    links: list[str] = []
    for line in lines[h2[0] :]:
        if line.startswith("## ") or not line.strip():
            continue
        item = re.fullmatch(r"- \[([^\]]+)\]\(([^)\s]+)\)(?:: (.+))?", line)
        assert item, f"not a link list item: {line!r}"
        links.append(item.group(2))
    for wanted in ("/api/v1/openapi.json", "/llms-full.txt"):
        assert wanted in links
    assert any(link.endswith("README.md") for link in links)
    assert any(link.endswith("docs/deploy.md") for link in links)


@pytest.mark.parametrize(("name", "full"), [("llms.txt", False), ("llms-full.txt", True)])
async def test_guides_name_only_what_the_server_has(facts: Facts, name: str, full: bool) -> None:
    text = full_guide_text() if full else guide_text()
    assert problems(facts, text, full=full) == []


async def test_llms_txt_tables_cover_every_tool_and_operation(facts: Facts) -> None:
    rows = list(table_rows(guide_text()))
    tools = {re.sub(r"`", "", r[0]) for r in rows if r[0].startswith("`")}
    assert tools == set(facts.tools)
    named = set()
    for r in rows:
        methods = [m.strip() for m in r[0].split(",")]
        if all(m.isupper() and m.isalpha() for m in methods):
            paths = re.findall(r"`(/[^`]*)`", re.sub(r"\([^)]*\)", "", r[1]))
            named |= {(m, p) for m in methods for p in paths}
    real = {(m.upper(), p) for p, ops in facts.openapi["paths"].items() for m in ops}
    assert real == named


async def test_the_full_reference_states_the_real_defaults(facts: Facts) -> None:
    text = full_guide_text()
    limit = Settings.model_fields["rate_limit"].default
    count, unit = limit.split("/")
    assert f"{int(count)} requests a {unit} per key by default" in text
    assert "X-RateLimit-Reset`, the Unix time in seconds" in text
    assert "every scope but\n`keys:write`" in text or "every scope but `keys:write`" in text


def _rename_argument(facts: Facts, tool: str, old: str, new: str) -> Facts:
    tools = copy.deepcopy(facts.tools)
    props = tools[tool]["input"]["properties"]
    props[new] = props.pop(old)
    return Facts(facts.openapi, tools, facts.error_codes, facts.prompts)


def _rename_field(facts: Facts, schema: str, old: str, new: str) -> Facts:
    document: dict[str, Any] = copy.deepcopy(facts.openapi)
    props = document["components"]["schemas"][schema]["properties"]
    props[new] = props.pop(old)
    return Facts(document, facts.tools, facts.error_codes, facts.prompts)


@pytest.mark.parametrize(
    ("tool", "old", "new"),
    [("create_link", "utm_source", "utm_src"), ("get_analytics", "timezone", "tz"),
     ("delete_link", "confirm", "confirmed")],
)  # fmt: skip
async def test_renaming_a_tool_argument_fails_the_check(
    facts: Facts, tool: str, old: str, new: str
) -> None:
    renamed = _rename_argument(facts, tool, old, new)
    for text, full in ((guide_text(), False), (full_guide_text(), True)):
        found = problems(renamed, text, full=full)
        assert any(old in line for line in found), found
        if full:
            assert any(new in line for line in found), found  # and the new name is missing


@pytest.mark.parametrize(
    ("schema", "old", "new"),
    [("LinkCreate", "maxClicks", "clickLimit"), ("Link", "shortUrl", "short"),
     ("LinkPage", "nextCursor", "cursorNext")],
)  # fmt: skip
async def test_renaming_a_rest_field_fails_the_check(
    facts: Facts, schema: str, old: str, new: str
) -> None:
    renamed = _rename_field(facts, schema, old, new)
    found = problems(renamed, full_guide_text(), full=True)
    assert any(old in line and schema in line for line in found), found


async def test_renaming_a_query_parameter_or_dropping_an_endpoint_fails_the_check(
    facts: Facts,
) -> None:
    document: dict[str, Any] = copy.deepcopy(facts.openapi)
    for path in ("/analytics", "/links/{id}/analytics"):
        for param in document["paths"][path]["get"]["parameters"]:
            if param["name"] == "includeBots":
                param["name"] = "bots"
    del document["paths"]["/tags/{id}"]["get"]
    changed = Facts(document, facts.tools, facts.error_codes, facts.prompts)
    short = problems(changed, guide_text(), full=False)
    assert any("includeBots" in line for line in short), short
    assert any("GET /tags/{id}" in line for line in short), short
    full = problems(changed, full_guide_text(), full=True)
    assert any("includeBots" in line for line in full), full
    assert any("GET /tags/{id}" in line for line in full), full


async def test_an_error_code_missing_from_the_reference_fails_the_check(facts: Facts) -> None:
    codes = {**facts.error_codes, "not_invented_here": 403}
    found = problems(
        Facts(facts.openapi, facts.tools, codes, facts.prompts), full_guide_text(), full=True
    )
    assert found == ["error table: code 'not_invented_here' (403) is missing"]
