"""Kill a server with SIGKILL in the middle of concurrent writes, then check the file.

Used by tests/e2e/test_crash_safety.py (a few hundred writes) and bench/crash_safety.py
(the full thousand). `run` drives a stdio server with raw JSON-RPC over the child's pipes, so
the child's PID is ours to kill and every answer read is an acknowledgement; `run_serve` drives
`clypt-mcp serve` over its REST API on loopback, where an acknowledgement is a 2xx answer read
in full. Both make the same creates and updates, so `verify` checks either.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2

from tests.http.live import serve_env, start_serve

# What each crash test checked, for the line pytest prints at the end (tests/conftest.py).
REPORTS: list[str] = []


def report(surface: str, checked: dict[str, int]) -> None:
    acked = checked["acknowledged_creates"] + checked["acknowledged_updates"]
    REPORTS.append(
        f"{surface}: {acked} acknowledged writes checked ({checked['acknowledged_creates']} "
        f"creates, {checked['acknowledged_updates']} updates; {checked['rows']} rows)"
    )


@dataclass
class Outcome:
    acknowledged_creates: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> args
    acknowledged_updates: dict[str, list[int]] = field(default_factory=dict)  # code -> versions
    sent: int = 0
    answered: int = 0
    errors: list[str] = field(default_factory=list)


def _spawn(db: Path) -> subprocess.Popen[bytes]:
    env = serve_env(db)
    return subprocess.Popen(
        [sys.executable, "-m", "clypt_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )


def _send(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


def _handshake(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    _send(proc, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "crash-test", "version": "1"}}})  # fmt: skip
    json.loads(proc.stdout.readline())
    _send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})


def create_args(i: int) -> dict[str, Any]:
    return {
        "url": f"https://example.com/crash/{i}",
        "code": f"crash-{i:05d}",
        "title": f"create {i}",
        "tags": [f"t{i}", "crash"],
        "folder": f"Crash/F{i % 5}",
    }


def run(db: Path, writes: int, kill_after: int, concurrency: int = 32) -> Outcome:
    """Send `writes` creates and updates, `concurrency` in flight; SIGKILL the server once
    `kill_after` answers have arrived. Returns what was acknowledged."""
    out = Outcome()
    proc = _spawn(db)
    _handshake(proc)
    pending: dict[int, tuple[str, str, Any]] = {}
    lock = threading.Condition()
    done = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            message = json.loads(line)
            with lock:
                kind, code, extra = pending.pop(message.get("id"), ("?", "", None))
                out.answered += 1
                result = message.get("result") or {}
                if result.get("isError"):
                    out.errors.append(str(result.get("content")))
                elif kind == "create":
                    out.acknowledged_creates[code] = extra
                elif kind == "update":
                    out.acknowledged_updates.setdefault(code, []).append(extra)
                lock.notify_all()
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    next_id = 1
    for n in range(writes):
        with lock:
            while len(pending) >= concurrency and not done.is_set():
                lock.wait(1)
            if out.answered >= kill_after or done.is_set():
                break
        extra: Any
        with lock:  # update only links whose create was acknowledged (no race with it)
            done_codes = list(out.acknowledged_creates)
        if done_codes and n % 3 == 2:
            code = done_codes[n % len(done_codes)]
            message = {"link": code, "title": f"update {n}", "tags": [f"u{n}", "crash"]}
            kind, extra = "update", n
        else:
            args = create_args(n)
            code, message, kind, extra = args["code"], args, "create", args
        with lock:
            pending[next_id] = (kind, code, extra)
        _send(proc, {"jsonrpc": "2.0", "id": next_id, "method": "tools/call",
                     "params": {"name": f"{kind}_link", "arguments": message}})  # fmt: skip
        out.sent += 1
        next_id += 1
    deadline = time.monotonic() + 30
    with lock:
        while out.answered < kill_after and not done.is_set() and time.monotonic() < deadline:
            lock.wait(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    done.wait(10)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(BrokenPipeError):
                pipe.close()
    return out


def run_serve(
    db: Path,
    key: str,
    writes: int,
    kill_after: int,
    concurrency: int = 32,
    database_url: str | None = None,
) -> Outcome:
    """`run` against `clypt-mcp serve`: the same writes as REST calls (`POST /api/v1/links`,
    `PATCH /api/v1/links/{code}`) over `concurrency` keep-alive connections; on the SQLite
    file `db`, or on the PostgreSQL `database_url` when given."""
    env = {"CLYPT_DATABASE_URL": database_url} if database_url else {}
    proc, origin = start_serve(db, **env)
    try:
        return anyio.run(_drive_rest, proc.pid, origin, key, writes, kill_after, concurrency)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def _drive_rest(
    pid: int, origin: str, key: str, writes: int, kill_after: int, concurrency: int
) -> Outcome:
    out = Outcome()
    killed = anyio.Event()
    slots = anyio.Semaphore(concurrency)
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def write(http: httpx2.AsyncClient, kind: str, code: str, body: Any, extra: Any) -> None:
        try:
            if kind == "create":
                r = await http.post("/links", json=body)
            else:
                r = await http.patch(f"/links/{code}", json=body)
        except httpx2.TransportError:
            return  # the server died with this request in flight: not acknowledged
        finally:
            slots.release()
        out.answered += 1
        if r.status_code >= 300:
            out.errors.append(f"{kind} {code}: {r.status_code} {r.text}")
        elif kind == "create":
            out.acknowledged_creates[code] = extra
        else:
            out.acknowledged_updates.setdefault(code, []).append(extra)
        if out.answered >= kill_after and not killed.is_set():
            os.kill(pid, signal.SIGKILL)
            killed.set()

    async with (
        httpx2.AsyncClient(
            base_url=f"{origin}/api/v1",
            headers={"authorization": f"Bearer {key}"},
            limits=limits,
            timeout=30,
        ) as http,
        anyio.create_task_group() as tg,
    ):
        for n in range(writes):
            await slots.acquire()
            if killed.is_set():
                slots.release()
                break
            done_codes = list(out.acknowledged_creates)  # update only acknowledged creates
            if done_codes and n % 3 == 2:
                code = done_codes[n % len(done_codes)]
                body: dict[str, Any] = {"title": f"update {n}", "tags": [f"u{n}", "crash"]}
                tg.start_soon(write, http, "update", code, body, n)
            else:
                args = create_args(n)
                tg.start_soon(write, http, "create", args["code"], args, args)
            out.sent += 1
        with anyio.fail_after(60):
            await killed.wait()
    return out


def verify(db: Path, out: Outcome) -> dict[str, int]:
    """Every acknowledged write is there; nothing is half-there; the file is sound."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return _check(conn, out)


def verify_postgres(url: str, out: Outcome) -> dict[str, int]:
    """`verify` on PostgreSQL: amcheck walks every B-tree index of the store's schema (its
    structure, and that each heap row is in it) before the rows are compared."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA public")
        indexes = conn.execute(
            """SELECT c.oid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_am a ON a.oid = c.relam
                WHERE n.nspname = current_schema() AND a.amname = 'btree'"""
        ).fetchall()
        assert len(indexes) > 10, "amcheck found too few indexes: wrong schema?"
        for (oid,) in indexes:
            conn.execute("SELECT public.bt_index_parent_check(%s::regclass, true)", (oid,))
        return _check(conn, out)


def _check(conn: Any, out: Outcome) -> dict[str, int]:
    """Compare the store's links, folders and tags (over a DB-API connection) with `out`."""
    links = {
        code: (title, url, folder)
        for code, title, url, folder in conn.execute(
            "SELECT l.code, l.title, l.url, f.name FROM links l "
            "LEFT JOIN folders f ON f.id = l.folder_id"
        )
    }
    tags: dict[str, set[str]] = {}
    for code, name in conn.execute(
        "SELECT l.code, t.name FROM link_tags lt JOIN links l ON l.id = lt.link_id "
        "JOIN tags t ON t.id = lt.tag_id"
    ):
        tags.setdefault(code, set()).add(name)
    for code in out.acknowledged_creates:
        assert code in links, f"acknowledged create {code} is missing"
    for code, (title, url, folder) in links.items():
        i = int(code.split("-")[1])
        assert url == create_args(i)["url"]
        assert folder == f"F{i % 5}", f"{code} lost its folder"
        if title == f"create {i}":
            assert tags.get(code) == {f"t{i}", "crash"}, f"{code} is half-created"
        else:
            version = int(title.split()[1])
            assert tags.get(code) == {f"u{version}", "crash"}, f"{code} is half-updated"
        acked = out.acknowledged_updates.get(code)
        if acked and title.startswith("create"):
            raise AssertionError(f"{code}: acknowledged update {acked} was lost")
    return {
        "acknowledged_creates": len(out.acknowledged_creates),
        "acknowledged_updates": sum(len(v) for v in out.acknowledged_updates.values()),
        "rows": len(links),
    }
