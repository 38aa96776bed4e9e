"""Files shipped inside the package: the agent guides (llms.txt, llms-full.txt) and the icons."""

from __future__ import annotations

import base64
from functools import cache
from importlib import resources as package_files

# The icon of each tool that is not about links in general (those show the server's icon).
TOOL_ICONS = {
    "get_analytics": "chart",
    "list_clicks": "chart",
    "manage_tags": "tag",
    "manage_folders": "folder",
    "get_qr_code": "qr",
}
ICON_NAMES = ("clypt", "chart", "tag", "folder", "qr")
ICON_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
PNG_SIZE = "64x64"


def guide_text() -> str:
    """llms.txt: the short guide for agents."""
    return _text("llms.txt")


def full_guide_text() -> str:
    """llms-full.txt: the whole reference for agents."""
    return _text("llms-full.txt")


def _text(name: str) -> str:
    return package_files.files("clypt_mcp").joinpath(name).read_text(encoding="utf-8")


@cache
def icon_file(filename: str) -> tuple[bytes, str] | None:
    """The bytes and media type of `icons/<filename>` (e.g. `chart.svg`), or None."""
    name, _, ext = filename.partition(".")
    if name not in ICON_NAMES or ext not in ICON_TYPES:
        return None
    data = package_files.files("clypt_mcp").joinpath("icons", filename).read_bytes()
    return data, ICON_TYPES[ext]


def icon_data_uri(filename: str) -> str:
    """`data:image/...;base64,...` of a shipped icon."""
    found = icon_file(filename)
    if found is None:
        raise KeyError(filename)
    data, media = found
    return f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"
