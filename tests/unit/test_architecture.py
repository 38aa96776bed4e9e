"""The layers contract (docs/architecture.md), checked by reading every module's imports.

Each module of the package belongs to one layer; a layer may import only the layers, or the
single modules, listed for it. Imports inside functions and under TYPE_CHECKING count too: a
lazy import is still a dependency. Beside the imports, no surface reaches through the service
to its store (`service.store`): HTTP has its own store and clock in AppState.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "clypt_mcp"
ROOT = Path(__file__).resolve().parents[2] / "src" / PACKAGE

# layer -> what it may import (a layer name, or a module name with a dot, exactly).
ALLOWED: dict[str, frozenset[str]] = {
    "models": frozenset(),
    "errors": frozenset(),
    # Files shipped in the package (the agent guides, the icons), read by the surfaces.
    "assets": frozenset(),
    # Process-level helpers the CLI installs: DEBUG-log redaction, the "is serve up?" probe.
    "support": frozenset(),
    "config": frozenset({"models"}),
    "store": frozenset({"models", "errors"}),
    # The rules over the store's protocols (store.base), never a concrete store.
    "core": frozenset({"models", "errors", f"{PACKAGE}.store.base"}),
    # A Backend is what the tools talk to: the local one wraps the service.
    "backends": frozenset({"models", "errors", f"{PACKAGE}.core.service"}),
    # The tools see the service only through a Backend; they may render with core's pure
    # helpers (QR codes, charts), which touch no store.
    "tools": frozenset(
        {
            "models",
            "errors",
            f"{PACKAGE}.backends.base",
            f"{PACKAGE}.core.qr",
            f"{PACKAGE}.core.chart",
            "assets",
        }
    ),
    # The served app: core through the service (and the redirect path's rules), its own
    # AppState; the store package only to open one (serve) and its protocols, never a
    # concrete store; MCP through the tools and the local backend.
    "http": frozenset(
        {
            "models",
            "errors",
            "config",
            "core",
            "tools",
            "assets",
            f"{PACKAGE}.backends.base",
            f"{PACKAGE}.backends.local",
            f"{PACKAGE}.store",
            f"{PACKAGE}.store.base",
            # tables of the served app's own (OAuth clients and grants, dashboard sessions),
            # kept over any Store
            f"{PACKAGE}.store.oauth",
            f"{PACKAGE}.store.web_sessions",
        }
    ),
    # The composition root: it may wire anything.
    "cli": frozenset(
        {
            "models",
            "errors",
            "config",
            "assets",
            "support",
            "core",
            "store",
            "backends",
            "tools",
            "http",
        }
    ),
    # clypt_mcp/__init__.py: the version, which any module may read; it imports nothing.
    "package": frozenset(),
}

# Above core, what the service module gives is the service (its helpers live with the rules
# they apply: validation wording in errors, value rules in models).
SERVICE = f"{PACKAGE}.core.service"
SERVICE_EXPORTS = frozenset({"ClyptService"})
# The service's areas (links, organisation, analytics, keys) are core's own: above core, the
# façade ClyptService is the one way in.
AREAS = f"{PACKAGE}.core.areas"

LAYER_OF_TOP = {
    "models": "models",
    "errors": "errors",
    "assets": "assets",
    "logredact": "support",
    "reach": "support",
    "verify": "support",  # links import --verify: HEAD of old short URLs, for the CLI
    "config": "config",
    "store": "store",
    "core": "core",
    "backends": "backends",
    "tools": "tools",
    "http": "http",
    "cli": "cli",
    "__main__": "cli",
}


def layer_of(module: str) -> str:
    """The layer of a module of the package (`clypt_mcp.core.service` -> `core`)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    try:
        return LAYER_OF_TOP[parts[1]]
    except KeyError:
        raise AssertionError(
            f"{module}: not in any layer — add its folder to LAYER_OF_TOP in "
            "tests/unit/test_architecture.py and to docs/architecture.md"
        ) from None


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.what}"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(module: str, tree: ast.AST, is_package: bool) -> list[tuple[int, str, str]]:
    """(line, module, name) for every import of the package's own modules in `tree`; `name`
    is what a `from … import name` takes from the module ("" for the module itself)."""
    out: list[tuple[int, str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, "") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from clypt_mcp.core import qr` imports the module clypt_mcp.core.qr
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if (ROOT.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    ROOT.parent / Path(*candidate.split("."))
                ).is_dir():
                    out.append((node.lineno, candidate, ""))
                else:
                    out.append((node.lineno, target, alias.name))
    return [(line, mod, name) for line, mod, name in out if mod.split(".")[0] == PACKAGE]


def reaches_service_store(tree: ast.AST) -> list[int]:
    """Lines reading `<something named service>.store`."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "store":
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name == "service":
                lines.append(node.lineno)
    return lines


def allowed(source_layer: str, target: str) -> bool:
    rules = ALLOWED[source_layer]
    if target == PACKAGE:
        return True
    target_layer = layer_of(target)
    if target_layer == source_layer or target in rules:
        return True
    return "." in target and target_layer in rules and target_layer != "package"


def check(module: str, source: str, is_package: bool = False) -> list[Violation]:
    """The contract's violations in one module's source."""
    tree = ast.parse(source)
    layer = layer_of(module)
    found = []
    for line, target, name in imported(module, tree, is_package):
        if not allowed(layer, target):
            found.append(Violation(module, line, f"{layer} may not import {target}"))
        elif layer != "core" and (target == AREAS or target.startswith(AREAS + ".")):
            found.append(Violation(module, line, f"{layer} takes the service's areas: {target}"))
        elif target == SERVICE and layer != "core" and name not in SERVICE_EXPORTS:
            found.append(
                Violation(module, line, f"{layer} takes only the service from {SERVICE}: {name}")
            )
    if layer not in ("core", "cli"):  # the service's own, and the composition root's
        found += [
            Violation(module, line, "reaches the store through the service (service.store)")
            for line in reaches_service_store(tree)
        ]
    return found


def all_modules() -> list[tuple[str, Path]]:
    return sorted((module_name(p), p) for p in ROOT.rglob("*.py"))


def test_every_module_keeps_to_its_layer() -> None:
    violations = [
        str(v)
        for name, path in all_modules()
        for v in check(name, path.read_text(encoding="utf-8"), path.name == "__init__.py")
    ]
    assert not violations, "layers contract broken (see docs/architecture.md):\n" + "\n".join(
        violations
    )


def test_the_contract_sees_the_whole_package() -> None:
    names = {name for name, _ in all_modules()}
    assert {"clypt_mcp.models", "clypt_mcp.core.service", "clypt_mcp.http.app"} <= names
    assert {layer_of(name) for name in names} == set(ALLOWED)


# The imports that once broke the layers: each must be caught if it comes back.
@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("clypt_mcp.models", "from clypt_mcp.core.codes import check_custom_code"),
        ("clypt_mcp.models", "from clypt_mcp.core.urls import check_destination"),
        ("clypt_mcp.store.sqlite", "def f():\n    from clypt_mcp.core.ids import new_id"),
        ("clypt_mcp.store.postgres_links", "from clypt_mcp.core import ids"),
        ("clypt_mcp.tools.common", "from clypt_mcp.core.service import describe_validation_error"),
        (
            "clypt_mcp.http.error_map",
            "from clypt_mcp.core.service import describe_validation_error",
        ),
        ("clypt_mcp.http.app", "def f():\n    from clypt_mcp.store.postgres import PostgresStore"),
        ("clypt_mcp.http.redirect", "def f(state):\n    return state.service.store"),
        ("clypt_mcp.http.api.endpoint", "def f(service):\n    return service.store.get"),
        ("clypt_mcp.core.service", "from clypt_mcp.store.sqlite import SqliteStore"),
        ("clypt_mcp.core.service", "from clypt_mcp.http.state import AppState"),
        ("clypt_mcp.tools.links", "from clypt_mcp.backends.local import LocalBackend"),
        ("clypt_mcp.errors", "from clypt_mcp.models import Scope"),
        ("clypt_mcp.backends.remote", "from clypt_mcp.store.base import Store"),
        ("clypt_mcp.http.pages", "from ..store import sqlite"),
        ("clypt_mcp.backends.local", "from clypt_mcp.core.areas.links import LinksArea"),
        ("clypt_mcp.http.app", "from clypt_mcp.core.service import link_status"),
    ],
)
def test_a_layer_breaking_import_is_caught(module: str, source: str) -> None:
    assert check(module, source, is_package=False)


def test_allowed_imports_pass() -> None:
    assert not check("clypt_mcp.core.service", "from clypt_mcp.store.base import Store")
    assert not check("clypt_mcp.tools.links", "from clypt_mcp.backends.base import Backend")
    assert not check("clypt_mcp.http.app", "from clypt_mcp.core.service import ClyptService")
    assert not check("clypt_mcp.store.sqlite", "from clypt_mcp.models import new_id")
