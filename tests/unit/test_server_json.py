"""server.json, the entry for the official MCP registry, against the registry's own schema."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from clypt_mcp.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "data" / "server.schema.2025-12-11.json"


def _load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
    return data


def _errors(document: dict[str, Any]) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema", reason="pip install -e '.[test]'")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_server_json_validates_against_the_2025_12_11_registry_schema() -> None:
    document = _load()
    assert document["$schema"] == json.loads(SCHEMA.read_text())["$id"]
    assert _errors(document) == []


def test_the_schema_check_catches_a_broken_entry() -> None:
    document = _load()
    document["description"] = "x" * 101  # the registry allows 100 characters
    del document["packages"][0]["transport"]
    assert len(_errors(document)) == 2


def test_server_json_names_the_package_its_version_and_the_remote_endpoint() -> None:
    document = _load()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (package,) = document["packages"]
    assert package["registryType"] == "pypi" and package["identifier"] == project["name"]
    assert package["identifier"] == "clypt-mcp"
    assert document["version"] == package["version"] == project["version"]
    (remote,) = document["remotes"]
    assert remote["type"] == "streamable-http" and remote["url"].endswith("/mcp")
    settings = {f"CLYPT_{name.upper()}" for name in Settings.model_fields}
    for variable in package["environmentVariables"]:
        assert variable["name"] in settings
    secret = {v["name"] for v in package["environmentVariables"] if v.get("isSecret")}
    assert secret == {"CLYPT_API_KEY"}


def test_readme_carries_the_registry_ownership_marker() -> None:
    name = _load()["name"]
    assert f"mcp-name: {name}" in (ROOT / "README.md").read_text(encoding="utf-8")
