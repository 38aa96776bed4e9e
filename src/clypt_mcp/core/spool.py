"""The click spool: clicks that could not be written while the store was away, on local disk.

Each `serve` process appends to its own file, `clicks-spool-<store>-<pid>-<random>.jsonl` in
`$XDG_STATE_HOME/clypt/` (default `~/.local/state/clypt/`; directory 0700, file 0600), where
`<store>` is a short hash of the database URL without its password, so a spool is only ever
replayed into the database its clicks belong to. One JSON object a line: a click id (random,
128 bits) and the click's fields. A process holds an exclusive `flock` on its file while it
writes it, and each batch is appended with one `write` and `fsync`ed before `append` returns
(the recorder appends a batch at most every 0.25 s, so nothing waits longer than that to reach
the disk). All spool files of one store together are bounded by `max_bytes` (default 100 MB,
`CLYPT_SPOOL_MAX_MB`); clicks beyond it are dropped and counted in the log.

`replay(store)` takes every spool file of this store that no live process holds (its own,
closed first, and those of processes that stopped or were killed), writes its clicks with
`record_spooled` (each click id once, ever: see `clypt_mcp.core.spool_ledger`), and deletes the
file. A line that does not parse — the torn end of a file whose writer was killed mid-write —
is skipped and logged, never fatal.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import anyio.to_thread

from clypt_mcp.core.spool_ledger import record_spooled
from clypt_mcp.models import ClickEvent
from clypt_mcp.store.base import Store

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
REPLAY_BATCH = 1000
_FIELDS = (
    "link_id",
    "workspace_id",
    "variant",
    "country",
    "device",
    "browser",
    "os",
    "referrer",
    "visitor",
    "traffic",
    "city",
    "click_id",  # a tracked link's clypt_cid (#15): a conversion names it after the replay
)


def state_dir() -> Path:
    """`$XDG_STATE_HOME/clypt`, i.e. `~/.local/state/clypt` by default."""
    root = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(root) / "clypt"


def store_tag(database_url: str) -> str:
    """A short name for a database: the same URL (without its password) gives the same tag."""
    parts = urlsplit(database_url)
    netloc = parts.netloc.rpartition("@")[2] if "@" in parts.netloc else parts.netloc
    user = parts.username or ""
    clean = urlunsplit((parts.scheme, f"{user}@{netloc}", parts.path, parts.query, ""))
    return hashlib.sha256(clean.encode()).hexdigest()[:12]


def to_line(click_id: str, event: ClickEvent) -> str:
    data: dict[str, Any] = {"id": click_id, "at": event.at.isoformat()}
    for name in _FIELDS:
        value = getattr(event, name)
        if value is not None:
            data[name] = value
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"


def from_line(line: str) -> tuple[str, ClickEvent]:
    """Raises ValueError (or KeyError, TypeError) for a line that is not a whole click."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    at = datetime.fromisoformat(data["at"])
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    fields: dict[str, Any] = {name: data.get(name) for name in _FIELDS}
    if not isinstance(fields["link_id"], str) or not isinstance(fields["workspace_id"], str):
        raise ValueError("no link")
    return str(data["id"]), ClickEvent(at=at, **fields)


@dataclass
class ReplayReport:
    files: int = 0
    clicks: int = 0  # written now
    skipped: int = 0  # already written before (replayed twice)
    torn: int = 0  # lines that did not parse


class ClickSpool:
    """One process's spool writer, and the replayer of every spool of its store."""

    def __init__(self, directory: Path, tag: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = directory
        self.tag = tag
        self.max_bytes = max_bytes
        self.dropped = 0
        self._file: TextIO | None = None
        self._size = 0  # of all spool files of this store, as last counted plus appended

    @property
    def pattern(self) -> str:
        return f"clicks-spool-{self.tag}-*.jsonl"

    def files(self) -> list[Path]:
        return sorted(self.directory.glob(self.pattern))

    def pending(self) -> bool:
        """Whether some spool of this store is waiting to be replayed (a directory listing)."""
        return self._file is not None or bool(self.files())

    # --- writing ----------------------------------------------------------------------

    async def append(self, events: list[ClickEvent]) -> int:
        """Write `events` to this process's spool and fsync it; how many were kept (the rest
        were over the size bound)."""
        return await anyio.to_thread.run_sync(self._append, events)

    def _append(self, events: list[ClickEvent]) -> int:
        if self._file is None:
            self._open()
        assert self._file is not None
        text = "".join(to_line(secrets.token_hex(16), e) for e in events)
        size = len(text.encode())
        kept = len(events)
        if self._size + size > self.max_bytes:
            room = self.max_bytes - self._size
            lines = text.splitlines(keepends=True)
            text, used = "", 0
            for line in lines:
                n = len(line.encode())
                if used + n > room:
                    break
                text += line
                used += n
            kept, size = len(text.splitlines()), used
            self.dropped += len(events) - kept
            log.error(
                "the click spool is full (%d bytes): %d clicks dropped (%d so far)",
                self.max_bytes,
                len(events) - kept,
                self.dropped,
            )
        if text:
            self._file.write(text)
            self._file.flush()
            os.fsync(self._file.fileno())
            self._size += size
        return kept

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            os.chmod(self.directory, 0o700)
        name = f"clicks-spool-{self.tag}-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        self._size = sum(_size(p) for p in self.files())
        log.warning("spooling clicks to %s until the store is back", path)

    def close(self) -> None:
        """Close this process's file (it stays on disk for a replay)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    # --- replaying --------------------------------------------------------------------

    async def replay(self, store: Store) -> ReplayReport:
        """Write every spool of this store no live process holds, then delete it.

        Raises whatever the store raises (it went away again): what was written stays
        written, and the rest is replayed next time, each click once."""
        await anyio.to_thread.run_sync(self.close)
        report = ReplayReport()
        for path in self.files():
            fd = await anyio.to_thread.run_sync(_take, path)
            if fd is None:
                continue  # a live process is writing or replaying it
            try:
                clicks, torn = await anyio.to_thread.run_sync(_read, fd, path)
                report.torn += torn
                for start in range(0, len(clicks), REPLAY_BATCH):
                    batch = clicks[start : start + REPLAY_BATCH]
                    new = await record_spooled(store, batch)
                    report.clicks += new
                    report.skipped += len(batch) - new
                await anyio.to_thread.run_sync(_unlink, path)
                report.files += 1
            finally:
                os.close(fd)
        if report.files:
            self._size = sum(_size(p) for p in self.files())
            log.warning(
                "replayed %d spooled clicks from %d file(s) (%d written before, %d torn lines "
                "skipped)",
                report.clicks,
                report.files,
                report.skipped,
                report.torn,
            )
        return report


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _take(path: Path) -> int | None:
    """An open descriptor of `path` with its lock, or None when someone holds it (or it went)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    if not path.exists():  # replayed and deleted by another process just now
        os.close(fd)
        return None
    return fd


def _read(fd: int, path: Path) -> tuple[list[tuple[str, ClickEvent]], int]:
    with os.fdopen(os.dup(fd), "rb") as f:
        data = f.read()
    clicks: list[tuple[str, ClickEvent]] = []
    torn = 0
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            clicks.append(from_line(raw.decode("utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            torn += 1
            where = "its last line" if number >= len(lines) - 1 else f"line {number}"
            log.warning("spool %s: skipped %s, not a whole click (%s)", path.name, where, exc)
    return clicks, torn


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
