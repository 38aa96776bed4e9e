"""#17 acceptance 4: `clypt-mcp links import --from S FILE` for each of the seven services, on
a sample export in that service's own format (tests/data/imports, built from their public API
documentation): codes, destinations, titles, tags, creation times and click totals kept; bad
rows reported by number with why; a second run creates nothing. `--verify` against a loopback
server playing the old service reports matches and mismatches, and without
CLYPT_DEV_ALLOW_LOOPBACK the client refuses to call loopback at all."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest

from clypt_mcp.cli import main
from clypt_mcp.store.sqlite import SqliteStore
from tests.http.live import serve_env

DATA = Path(__file__).parent.parent / "data" / "imports"
# source -> (file, {code: (url, title, tags, created_at, imported clicks)}, {row: reason part})
CASES: dict[str, tuple[str, dict[str, tuple[Any, ...]], dict[int, str]]] = {
    "bitly": (
        "bitly.json",
        {
            "3xKq9Zp": ("https://example.com/spring-sale?ref=mail", "Spring sale",
                        ["email", "spring"], "2025-03-14T09:26:53+00:00", 0),
            "docs-2025": ("https://docs.example.org/start", None, [],
                          "2025-04-02T17:00:00+00:00", 0),
        },
        {3: "javascript", 4: "ISO 8601"},
    ),
    "dub": (
        "dub.csv",
        {
            "launch": ("https://acme.com/launch?utm_source=dub", None, ["launch", "product"],
                       "2025-01-20T10:04:11+00:00", 1342),
            "pricing": ("https://acme.com/pricing", None, [], "2025-02-11T08:30:00+00:00", 57),
        },
        {3: "3-64 characters", 4: "'many' is not a whole number"},
    ),
    "shortio": (
        "shortio.json",
        {
            "summer24": ("https://shop.example.com/summer", "Summer campaign", ["shop", "summer"],
                         "2024-06-01T07:45:12+00:00", 210),
            "support": ("https://help.example.com/", None, [], "2024-06-03T11:00:00+00:00", 0),
        },
        {3: "'path' is missing"},
    ),
    "rebrandly": (
        "rebrandly.json",
        {
            "webinar": ("https://events.example.net/webinar/2025", "Webinar sign-up", ["events"],
                        "2025-05-10T14:22:09+00:00", 88),
            "podcast-ep12": ("https://audio.example.net/ep/12", "Podcast", [],
                             "2025-05-12T06:00:00+00:00", 0),
        },
        {3: "'destination' is missing"},
    ),
    "shlink": (
        "shlink.csv",
        {
            "kZp3q": ("https://blog.example.com/post/42", "Post 42", ["blog", "tech"],
                      "2024-11-02T09:15:30+00:00", 517),
            "newsletter": ("https://example.com/news?issue=7", None, ["news"],
                           "2024-11-03T17:00:00+00:00", 12),
        },
        {3: "reserved", 4: "ftp:"},
    ),
    "yourls": (
        "yourls.json",
        {
            "meetup": ("https://meetup.example.org/2023", "Meetup", [],
                       "2023-09-02T08:00:00+00:00", 27),
        },
        {1: "3-64 characters", 3: "negative"},
    ),
    "kutt": (
        "kutt.json",
        {
            "handbook": ("https://wiki.example.com/handbook", "Team handbook", [],
                         "2025-02-20T15:10:00+00:00", 64),
            "roadmap": ("https://wiki.example.com/roadmap", None, [],
                        "2025-02-21T09:00:00+00:00", 0),
        },
        {3: "earlier in the same file"},
    ),
}  # fmt: skip


def _run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db: Path, *args: str
) -> tuple[int, str, str]:
    for name, value in serve_env(db).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CLYPT_BASE_URL", "https://new.example")
    code = 0
    try:
        main(["links", "import", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


async def _links(db: Path) -> dict[str, Any]:
    store = SqliteStore(db)
    await store.open()
    try:
        found = {}
        for _, code in await store.links_with_codes([c.lower() for c in _all_codes()]):
            found[code] = await store.get_link("default", code=code)
        return found
    finally:
        await store.close()


def _all_codes() -> list[str]:
    return [code for _, expected, _ in CASES.values() for code in expected]


@pytest.mark.parametrize("source", list(CASES))
def test_each_service_export_imports_with_codes_kept_and_bad_rows_named(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file, expected, bad = CASES[source]
    db = tmp_path / "clypt.db"
    code, out, err = _run(monkeypatch, capsys, db, "--from", source, str(DATA / file))
    assert code == 1  # some rows were invalid
    lines = out.splitlines()
    assert len(lines) == len(bad), out
    for row, reason in bad.items():
        (line,) = [ln for ln in lines if ln.startswith(f"row {row} ")]
        assert reason in line, line
    assert f"{len(expected)} created, 0 skipped, {len(bad)} invalid" in err

    links = anyio.run(_links, db)
    assert set(links) == set(expected)
    for link_code, (url, title, tags, created, imported) in expected.items():
        rec = links[link_code]
        assert rec.url == url and rec.title == title and sorted(rec.tags) == tags
        assert rec.created_at == datetime.fromisoformat(created).astimezone(UTC)
        assert rec.imported_clicks == imported and rec.clicks == 0  # not fake clicks

    code, out, err = _run(monkeypatch, capsys, db, "--from", source, str(DATA / file))
    assert f"0 created, {len(expected)} skipped, {len(bad)} invalid" in err  # idempotent
    for link_code, (url, *_) in expected.items():
        assert f"{link_code}: code taken by https://new.example/{link_code} -> {url}" in out
    assert anyio.run(_links, db).keys() == links.keys()


def test_a_file_of_another_shape_is_refused_as_a_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "clypt.db"
    code, _, err = _run(monkeypatch, capsys, db, "--from", "kutt", str(DATA / "dub.csv"))
    assert code == 1 and "content: not JSON" in err and "Kutt" in err
    code, _, err = _run(monkeypatch, capsys, db, "--from", "shlink", str(DATA / "dub.csv"))
    assert code == 1 and "'shortCode' column" in err


class OldService(BaseHTTPRequestHandler):
    """The old shortener: HEAD /CODE answers 301 to where the code leads there."""

    routes: ClassVar[dict[str, str]] = {}
    asked: ClassVar[list[tuple[str, str]]] = []

    def do_HEAD(self) -> None:
        self.asked.append((self.command, self.path))
        target = self.routes.get(self.path.strip("/"))
        self.send_response(301 if target else 404)
        if target:
            self.send_header("Location", target)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def old_service() -> Iterator[str]:
    OldService.routes = {
        "launch": "https://acme.com/launch?utm_source=dub",  # the same: match
        "pricing": "https://acme.com/pricing-2026",  # changed since the export: mismatch
    }
    OldService.asked = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), OldService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_verify_heads_each_old_short_url_and_reports_match_and_mismatch(
    tmp_path: Path, old_service: str
) -> None:
    sample = tmp_path / "dub.csv"
    sample.write_text((DATA / "dub.csv").read_text().replace("https://dub.sh", old_service))
    db = tmp_path / "clypt.db"
    env = serve_env(db) | {"CLYPT_BASE_URL": "https://new.example"}
    cmd = [sys.executable, "-m", "clypt_mcp", "links", "import", "--from", "dub", str(sample),
           "--verify"]  # fmt: skip
    refused = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert "row 1 launch: error refused: 127.0.0.1 is a private or local address" in refused.stdout
    assert OldService.asked == []  # never called

    allowed = subprocess.run(
        cmd, env=env | {"CLYPT_DEV_ALLOW_LOOPBACK": "true"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    out = allowed.stdout
    assert "row 1 launch: match https://acme.com/launch?utm_source=dub" in out
    assert (
        "row 2 pricing: mismatch old https://acme.com/pricing-2026 new https://acme.com/pricing"
        in out
    )
    assert allowed.returncode == 1  # a mismatch (and the invalid rows) fail the command
    assert OldService.asked == [("HEAD", "/launch"), ("HEAD", "/pricing")]  # HEAD, no follow

    sampled = subprocess.run(
        [*cmd[:-1], "--verify-sample", "1"], env=env | {"CLYPT_DEV_ALLOW_LOOPBACK": "true"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    verdicts = [ln for ln in sampled.stdout.splitlines() if ": match " in ln or ": mismatch " in ln]
    assert len(verdicts) == 1
