"""Build the MCP Bundle (`.mcpb`) that Claude Desktop installs with a double-click.

The bundle carries the project itself (pyproject.toml, README.md, src/) and a manifest whose
server starts with `uv`: the host needs uv and nothing else (no release on the package index).
Its `user_config` asks for the short-link address, the scopes and, for remote mode, the team
server's URL and key (sensitive). Optional fields left empty count as unset (see
clypt_mcp.config.is_unset). The tools listed in the manifest are the server's own.

Usage: python scripts/bundle.py [OUTPUT_DIR]     (default: dist/; `make bundle` runs it)
Prints the path of the bundle it wrote.
"""

from __future__ import annotations

import io
import json
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SKIP_DIRS = {"__pycache__"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
# What the assistant may do by default: everything the README promises, permanent delete
# included (it asks for confirmation first), but not minting API keys.
DEFAULT_SCOPES = (
    "links:read,links:write,links:delete,analytics:read,tags:write,folders:write,domains:write"
)


def tool_list() -> list[dict[str, str]]:
    """Name and first sentence of every tool the server offers with all scopes."""
    from clypt_mcp.tools.server import build_server

    mcp = build_server(lambda: None)  # type: ignore[arg-type, return-value]
    tools = []
    for tool in mcp._tool_manager.list_tools():
        paragraph = " ".join((tool.description or "").strip().split("\n\n")[0].split())
        tools.append({"name": tool.name, "description": paragraph})
    return tools


def manifest(version: str, description: str) -> dict[str, object]:
    return {
        "manifest_version": "0.4",
        "name": "clypt-mcp",
        "display_name": "Clypt",
        "version": version,
        "description": description,
        "long_description": (
            "Create, find, change, organise and report on short links from your assistant. "
            "Short links resolve only where `clypt-mcp serve` runs at the short-link address "
            "on the same database: point the bundle at your team's Clypt server (server URL "
            "and API key), or run `clypt-mcp serve` on this machine and keep the default "
            "address."
        ),
        "author": {"name": "Clypt contributors"},
        "repository": {"type": "git", "url": "https://github.com/clypt/clypt-mcp"},
        "homepage": "https://github.com/clypt/clypt-mcp",
        "icon": "icon.png",
        "server": {
            "type": "uv",
            "entry_point": "src/clypt_mcp/__main__.py",
            "mcp_config": {
                "command": "uv",
                "args": ["run", "--quiet", "--project", "${__dirname}", "clypt-mcp"],
                "env": {
                    "CLYPT_BASE_URL": "${user_config.base_url}",
                    "CLYPT_SCOPES": "${user_config.scopes}",
                    "CLYPT_API_URL": "${user_config.api_url}",
                    "CLYPT_API_KEY": "${user_config.api_key}",
                },
            },
        },
        "tools": tool_list(),
        "keywords": ["links", "url shortener", "analytics", "qr code", "utm"],
        "license": "MIT",
        "compatibility": {
            "platforms": ["darwin", "win32", "linux"],
            "runtimes": {"python": ">=3.11"},
        },
        "user_config": {
            "base_url": {
                "type": "string",
                "title": "Short link address (CLYPT_BASE_URL)",
                "description": "Where `clypt-mcp serve` answers short links, e.g. "
                "https://go.example.com. Links made here resolve only there. In remote mode "
                "the team server's own address is used.",
                "default": "http://127.0.0.1:8080",
                "required": False,
            },
            "scopes": {
                "type": "string",
                "title": "Allowed actions (CLYPT_SCOPES)",
                "description": "Comma list of what the assistant may do; tools outside it "
                "are hidden. links:read,analytics:read makes a read-only assistant.",
                "default": DEFAULT_SCOPES,
                "required": False,
            },
            "api_url": {
                "type": "string",
                "title": "Team server URL (remote mode)",
                "description": "A Clypt server's address, e.g. https://go.example.com. "
                "Leave empty to keep links in a database on this computer.",
                "required": False,
            },
            "api_key": {
                "type": "string",
                "title": "Team server API key (remote mode)",
                "description": "A key made on that server with `clypt-mcp keys create`.",
                "sensitive": True,
                "required": False,
            },
        },
    }


def bundle_icon() -> bytes:
    """The server's icon at the 512 px Claude Desktop recommends, drawn like the others."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_icons

    out = io.BytesIO()
    make_icons.png(make_icons.ICONS["clypt"], out, size=512)
    return out.getvalue()


def project_files() -> list[Path]:
    files = [ROOT / "pyproject.toml", ROOT / "README.md"]
    for path in sorted((ROOT / "src" / "clypt_mcp").rglob("*")):
        if path.is_file() and not SKIP_DIRS & set(path.parts) and path.suffix not in SKIP_SUFFIXES:
            files.append(path)
    return files


def build(out_dir: Path) -> Path:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    version, description = project["version"], project["description"]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"clypt-mcp-{version}.mcpb"
    tmp = target.with_suffix(".mcpb.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        text = json.dumps(manifest(version, description), indent=2, ensure_ascii=False) + "\n"
        for name, data in (("manifest.json", text.encode()), ("icon.png", bundle_icon())):
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        for path in project_files():
            zf.write(path, path.relative_to(ROOT).as_posix())
    tmp.replace(target)
    return target


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"
    print(build(out))


if __name__ == "__main__":
    main()
