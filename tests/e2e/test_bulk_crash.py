"""kill -9 of `clypt-mcp serve` during a 1,000-link bulk update over REST: every link is
wholly old or wholly new afterwards (one transaction per chunk; tags, title and flag together)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.http.live import make_key, start_serve

N = 1000


Query = Callable[[str], list[Any]]


def _reader(kind: str, db: Path, url: str) -> Query:
    """Run one SELECT on the store's database, as an outsider, and return its rows."""
    if kind == "sqlite":

        def sqlite_rows(sql: str) -> list[Any]:
            with sqlite3.connect(db, timeout=30) as con:
                return con.execute(sql).fetchall()

        return sqlite_rows
    import psycopg

    def pg_rows(sql: str) -> list[Any]:
        with psycopg.connect(url) as con:
            return con.execute(sql).fetchall()

    return pg_rows


def _state(rows: Query) -> dict[str, tuple[str | None, int, frozenset[str]]]:
    links = rows("SELECT id, code, title, disabled FROM links")
    tags: dict[str, set[str]] = {}
    for link_id, name in rows(
        "SELECT lt.link_id, t.name FROM link_tags lt JOIN tags t ON t.id = lt.tag_id"
    ):
        tags.setdefault(link_id, set()).add(name)
    return {code: (title, int(off), frozenset(tags.get(i, set()))) for i, code, title, off in links}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sigkill_during_a_1000_link_bulk_update_leaves_each_link_old_or_new(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    db = tmp_path / "clypt.db"
    url = request.getfixturevalue("pg_url") if kind == "postgres" else ""
    env = {"CLYPT_DATABASE_URL": url} if url else {}
    rows = _reader(kind, db, url)
    key = make_key(db, **env)
    proc, origin = start_serve(db, **env)
    auth = {"Authorization": f"Bearer {key}"}
    try:
        with httpx2.Client(base_url=origin + "/api/v1", headers=auth, timeout=60) as http:
            for start in range(0, N, 100):
                items = [{"url": f"https://e.com/{i}", "code": f"kill{i:04d}", "title": "old",
                          "tags": ["old"]} for i in range(start, start + 100)]  # fmt: skip
                assert http.post("/links/bulk", json={"links": items}).status_code == 201
        body = {"links": [f"kill{i:04d}" for i in range(N)], "dryRun": False,
                "changes": {"title": "new", "disabled": True, "addTags": ["new"],
                            "removeTags": ["old"]}}  # fmt: skip
        answered: list[int] = []

        def run() -> None:
            try:
                r = httpx2.patch(origin + "/api/v1/links/bulk", json=body, headers=auth,
                                 timeout=60)  # fmt: skip
                answered.append(r.status_code)
            except httpx2.TransportError:
                pass

        sender = threading.Thread(target=run)
        sender.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not answered:
            if rows("SELECT 1 FROM links WHERE title = 'new' LIMIT 1"):
                break
            time.sleep(0.002)
        proc.kill()  # SIGKILL
        proc.wait(10)
        sender.join(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    state = _state(rows)
    assert len(state) == N
    old = ("old", 0, frozenset({"old"}))
    new = ("new", 1, frozenset({"new"}))
    torn = {code: s for code, s in state.items() if s not in (old, new)}
    assert not torn, list(torn.items())[:5]
    changed = sum(s == new for s in state.values())
    # chunks of 100 commit whole: the number changed is a multiple of 100
    assert changed % 100 == 0, changed
    print(f"bulk crash ({kind}): {changed} of {N} links new, {N - changed} old, none torn; "
          f"answered: {answered}")  # fmt: skip
