"""The README's desktop snippets: valid, `uvx clypt-mcp`, settings Clypt accepts, and scopes that
allow what the README says the assistant can do (permanent deletes included)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from clypt_mcp.config import Settings
from clypt_mcp.models import Scope, expand_scopes
from clypt_mcp.tools.server import TOOL_SCOPES

README = Path(__file__).resolve().parents[2] / "README.md"


def _snippets() -> list[dict[str, Any]]:
    blocks = re.findall(r"^```json\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)
    servers = [json.loads(b)["mcpServers"]["clypt"] for b in blocks if '"mcpServers"' in b]
    assert len(servers) == 2, "the README gives two desktop setups"
    return servers


def _settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"CLYPT_{name.upper()}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_both_snippets_start_clypt_with_uvx_and_valid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    remote, local = _snippets()
    for snippet in (remote, local):
        assert snippet["command"] == "uvx" and snippet["args"] == ["clypt-mcp"]
        assert all(name.startswith("CLYPT_") for name in snippet["env"])
    settings = _settings(monkeypatch, remote["env"])
    assert settings.api_url is not None and settings.api_key is not None
    settings = _settings(monkeypatch, local["env"])
    assert settings.api_url is None and settings.base == "http://127.0.0.1:8080"


def test_the_local_snippet_allows_every_tool_and_permanent_delete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, local = _snippets()
    granted = expand_scopes(_settings(monkeypatch, local["env"]).scopes)
    assert set(TOOL_SCOPES.values()) <= granted
    assert Scope.LINKS_DELETE in granted
    assert Scope.KEYS_WRITE not in granted  # an assistant needs no key administration
