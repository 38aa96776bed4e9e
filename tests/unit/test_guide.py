"""The guides shipped in the package are the repository's llms.txt and llms-full.txt."""

from pathlib import Path

from clypt_mcp.assets import full_guide_text, guide_text

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_guide_matches_repository_llms_txt() -> None:
    assert guide_text() == (ROOT / "llms.txt").read_text(encoding="utf-8")


def test_packaged_full_reference_matches_repository_llms_full_txt() -> None:
    assert full_guide_text() == (ROOT / "llms-full.txt").read_text(encoding="utf-8")
