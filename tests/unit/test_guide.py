"""The guide shipped in the package is the repository's llms.txt."""

from pathlib import Path

from clypt_mcp.tools.resources import guide_text

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_guide_matches_repository_llms_txt() -> None:
    assert guide_text() == (ROOT / "llms.txt").read_text(encoding="utf-8")
