"""Settings a desktop host passes empty, or as its unreplaced placeholder, count as unset."""

from __future__ import annotations

import pytest

from clypt_mcp.config import Settings, is_unset
from clypt_mcp.models import ALL_SCOPES


@pytest.mark.parametrize(
    ("raw", "unset"),
    [("", True), ("  ", True), ("${user_config.api_key}", True), (" ${user_config.x} ", True),
     ("clypt_abc", False), ("${HOME}", False), ("links:read", False)],
)  # fmt: skip
def test_is_unset(raw: str, unset: bool) -> None:
    assert is_unset(raw) is unset


def test_empty_and_placeholder_bundle_fields_leave_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLYPT_API_URL", "")
    monkeypatch.setenv("CLYPT_API_KEY", "${user_config.api_key}")
    monkeypatch.setenv("CLYPT_SCOPES", "${user_config.scopes}")
    monkeypatch.setenv("CLYPT_BASE_URL", "https://go.example.test")
    settings = Settings()
    assert settings.api_url is None and settings.api_key is None
    assert settings.scopes == ALL_SCOPES
    assert settings.base == "https://go.example.test"
