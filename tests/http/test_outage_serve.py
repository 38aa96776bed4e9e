"""`clypt-mcp serve` while its database goes away (#20): PostgreSQL stopped for 20 s under load,
SIGTERM and kill -9 during an outage, a SQLite disk that fills up, a SQLite file made read-only.
Every redirect of a link seen before the outage answers 302 in under 2 s, writes get 503
`store_unavailable`, /healthz says `degraded`, the log tells it in lines (no traceback), and
afterwards the store holds exactly one click per 302 served.

The PostgreSQL tests run their own throwaway cluster on a free port (they stop and start it).
One SQLite test mounts a small tmpfs in a mount namespace of its own (`unshare -m`, root) and
fills it. The other makes the database file and its WAL immutable (`chattr +i`, root, ext4 or
XFS): those file systems then refuse writes on descriptors already open, which is what a running
process sees of a disk that turned read-only (remounting read-only is refused while a file is
open for writing, EBUSY, and `chmod` does not touch open descriptors); `chattr -i` makes it
writable again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import LinkCreate, Principal
from clypt_mcp.store import open_store
from tests.http.live import free_port, make_key, start_serve_workers
from tests.services import unavailable

LINKS = 200
OUTAGE_SECONDS = 20
# a person's browser, so every visit is a click
AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"

# serial: they stop and start their own PostgreSQL under load and bound each redirect to 2 s
pytestmark = pytest.mark.serial


# --- a PostgreSQL of the test's own -----------------------------------------------------


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if found:
        return found[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class OwnPostgres:
    """A throwaway cluster on a free 127.0.0.1 port that a test may stop and start."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        # in /tmp itself: the run's own TMPDIR (make test) is private to us, and initdb runs as
        # the postgres user, who must reach the folder
        self.dir = Path(tempfile.mkdtemp(prefix="clypt-outage-pg-", dir="/tmp"))
        self.dir.chmod(0o755)
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/clypt"
        self._run(
            "initdb", "-D", f"{self.dir}/data", "-U", "postgres", "--auth=trust", "-E",
            "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        self.start()
        subprocess.run(
            [str(self.bin / "psql"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U",
             "postgres", "-d", "postgres", "-c", "CREATE DATABASE clypt"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self.bin / tool), *args]
        if self.root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-w", "-t", "30",
            "-o", opts, "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", f"{self.dir}/data", "-m", "fast", "-w", "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", f"{self.dir}/data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def scalar(self, sql: str) -> int:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(sql).fetchone()
        return int(row[0] or 0) if row else 0


async def _make_links(url: str | None, sqlite_path: Path, prefix: str) -> list[str]:
    store = open_store(url, sqlite_path)
    await store.open()
    try:
        service = ClyptService(store, base_url="http://127.0.0.1:1")
        owner = Principal(workspace_id="default")
        codes = [f"{prefix}{i:03d}" for i in range(LINKS)]
        for code in codes:
            await service.create_link(
                owner, LinkCreate(url=f"https://example.com/{code}", code=code)
            )
        await service.create_link(
            owner,
            LinkCreate(url="https://example.com/limited", code=f"{prefix}cap", max_clicks=1000),
        )
        return codes
    finally:
        await store.close()


@dataclass
class Setup:
    pg: OwnPostgres
    home: Path
    key: str
    codes: list[str]

    def env(self) -> dict[str, str]:
        return {
            "CLYPT_DATABASE_URL": self.pg.url,
            "XDG_STATE_HOME": str(self.home / "state"),
            "CLYPT_CLICK_RATE": "1000000/minute",
        }

    def serve(self, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
        return start_serve_workers(self.home / "placeholder.db", workers, **self.env())

    def clicks(self) -> int:
        return self.pg.scalar("SELECT COUNT(*) FROM clicks")

    def log(self, origin: str) -> str:
        port = origin.rsplit(":", 1)[1]
        return Path(f"{self.home}/placeholder.db.serve-{port}.log").read_text()[-3000:]

    def spools(self) -> list[Path]:
        return sorted((self.home / "state" / "clypt").glob("*spool*"))


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        unavailable("postgres", "no initdb on this machine for a cluster of the test's own")
    try:
        pg = OwnPostgres(bin_dir)
    except (subprocess.SubprocessError, OSError, KeyError, LookupError) as exc:
        unavailable("postgres", f"could not start a cluster of the test's own: {exc}")
    home = Path(tempfile.mkdtemp(prefix="clypt-outage-"))
    try:
        codes = anyio.run(_make_links, pg.url, home / "unused.db", "o")
        key = make_key(home / "placeholder.db", CLYPT_DATABASE_URL=pg.url)
        yield Setup(pg, home, key, codes)
    finally:
        pg.close()
        shutil.rmtree(home, ignore_errors=True)


# --- load --------------------------------------------------------------------------------


@dataclass
class Load:
    """Steady redirects from a thread: `workers` connections, each pausing `pause` s."""

    origin: str
    codes: list[str]
    workers: int = 6
    pause: float = 0.015
    results: list[tuple[float, str, int, float]] = field(default_factory=list)  # t, code, status, s
    errors: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    async def _run(self) -> None:
        await asyncio.gather(*(self._worker(i) for i in range(self.workers)))

    async def _worker(self, n: int) -> None:
        rng = random.Random(n)
        headers = {"user-agent": AGENT}
        async with httpx2.AsyncClient(base_url=self.origin, timeout=5, headers=headers) as http:
            while not self._stop.is_set():
                code = rng.choice(self.codes)
                start = time.monotonic()
                try:
                    r = await http.get(f"/{code}")
                    self.results.append((start, code, r.status_code, time.monotonic() - start))
                except httpx2.TransportError as exc:
                    self.errors.append((start, repr(exc)))
                await asyncio.sleep(self.pause)

    def served(self) -> int:
        return sum(1 for _, _, status, _ in self.results if status == 302)

    def between(self, a: float, b: float) -> list[tuple[float, str, int, float]]:
        return [r for r in self.results if a <= r[0] <= b]


def _visit_all(origin: str, codes: list[str]) -> int:
    with httpx2.Client(base_url=origin, timeout=5, headers={"user-agent": AGENT}) as http:
        statuses = [http.get(f"/{code}").status_code for code in codes]
    assert set(statuses) == {302}
    return len(statuses)


def _wait(what: str, check: Callable[[], bool], seconds: float) -> float:
    """Poll `check` until true; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        with contextlib.suppress(httpx2.TransportError):
            if check():
                return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds} s")


def _health(origin: str) -> dict[str, object]:
    data: dict[str, object] = httpx2.get(f"{origin}/healthz", timeout=2).json()
    return data


def _stop(proc: subprocess.Popen[bytes]) -> float:
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise AssertionError("serve did not stop within 20 s of SIGTERM") from None
    return time.monotonic() - start


def _spooled_lines(paths: list[Path]) -> int:
    return sum(1 for p in paths for line in p.read_text().splitlines() if line.endswith("}"))


# --- the tests ---------------------------------------------------------------------------


def test_postgres_stopped_for_20_s_under_load(setup: Setup) -> None:
    before = setup.clicks()
    proc, origin = setup.serve()
    load = Load(origin, setup.codes)
    try:
        warm = _visit_all(origin, [*setup.codes, "ocap"])  # every link seen before the outage
        load.start()
        time.sleep(3)
        setup.pg.stop()
        stopped = time.monotonic()
        took = _wait("/healthz degraded", lambda: _health(origin).get("status") == "degraded", 5)
        health = _health(origin)
        assert "PostgreSQL" in str(health["reason"]), health
        with httpx2.Client(base_url=origin, timeout=5) as http:
            auth = {"Authorization": f"Bearer {setup.key}"}
            t = time.monotonic()
            r = http.post("/api/v1/links", json={"url": "https://example.com/new"}, headers=auth)
            assert time.monotonic() - t < 2
            assert r.status_code == 503 and r.json()["code"] == "store_unavailable", r.text
            assert r.headers["retry-after"]
            t = time.monotonic()
            arguments = {"url": "https://example.com/m"}
            params = {"name": "create_link", "arguments": arguments}
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
            mcp_headers = {**auth, "accept": "application/json, text/event-stream"}
            r = http.post("/mcp", json=call, headers=mcp_headers)
            assert time.monotonic() - t < 2
            assert r.status_code == 503 and r.json()["error"] == "store_unavailable", r.text
            # unknown codes: 503 with Retry-After, never 404
            r = http.get("/never-made-0", headers={"user-agent": AGENT})
            assert r.status_code == 503 and r.headers["retry-after"]
            # a max_clicks link cannot have its count checked: 503, and it says why
            r = http.get("/ocap", headers={"user-agent": AGENT})
            assert r.status_code == 503 and "count" in r.text
        with contextlib.suppress(AssertionError):
            _wait("a spool file", lambda: bool(setup.spools()), 8)
        assert setup.spools(), (load.results[-3:], load.errors[-3:], setup.log(origin))
        spools = setup.spools()
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in spools), setup.log(origin)
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
        during = load.between(stopped, time.monotonic())
        setup.pg.start()
        back = time.monotonic()
        _wait("/healthz ok", lambda: _health(origin) == {"ok": True}, 15)
        time.sleep(1)
        load.stop()
        served = warm + load.served()
        _wait("every click written", lambda: setup.clicks() - before >= served, 30)
        time.sleep(1.5)
        assert setup.clicks() - before == served  # none lost, none doubled
        assert not setup.spools()
    finally:
        load.stop()
        _stop(proc)
    assert took <= 5
    assert len(during) > OUTAGE_SECONDS * 100, len(during)  # a few hundred a second
    assert {status for _, _, status, _ in during} == {302}
    assert max(s for *_, s in during) < 2.0
    assert not [e for e in load.errors if stopped <= e[0] <= back], load.errors[:3]
    _told_in_lines(Path(f"{setup.home}/placeholder.db.serve-{origin.rsplit(':', 1)[1]}.log"))


def test_two_workers_ride_out_a_short_outage(setup: Setup) -> None:
    before = setup.clicks()
    proc, origin = setup.serve(workers=2)
    load = Load(origin, setup.codes)
    try:
        warm = 0
        for _ in range(4):  # each worker sees every link (connections land on either)
            warm += _visit_all(origin, setup.codes)
        load.start()
        time.sleep(1)
        setup.pg.stop()
        stopped = time.monotonic()
        _wait("/healthz degraded", lambda: _health(origin).get("status") == "degraded", 5)
        time.sleep(6)
        during = load.between(stopped, time.monotonic())
        setup.pg.start()
        _wait("/healthz ok", lambda: _health(origin) == {"ok": True}, 15)
        load.stop()
        served = warm + load.served()
        _wait("every click written", lambda: setup.clicks() - before >= served, 30)
        time.sleep(1.5)
        assert setup.clicks() - before == served
        assert not setup.spools()
    finally:
        load.stop()
        _stop(proc)
    assert during and max(s for *_, s in during) < 2.0
    # a worker that had not yet seen a link answers 503, never 404
    assert {status for _, _, status, _ in during} <= {302, 503}
    assert sum(1 for r in during if r[2] == 302) > 0.95 * len(during)


def test_sigterm_during_an_outage_spools_and_the_restart_replays(setup: Setup) -> None:
    before = setup.clicks()
    proc, origin = setup.serve()
    load = Load(origin, setup.codes)
    try:
        warm = _visit_all(origin, setup.codes)
        load.start()
        time.sleep(1)
        setup.pg.stop()
        _wait("/healthz degraded", lambda: _health(origin).get("status") == "degraded", 5)
        time.sleep(3)
        took = _stop(proc)
        load.stop()
        served = warm + load.served()
        assert took <= 10
        assert _spooled_lines(setup.spools()) > 0
    finally:
        load.stop()
        with contextlib.suppress(subprocess.SubprocessError):
            setup.pg.start()
    proc, origin = setup.serve()
    try:
        _wait("the spool replayed", lambda: setup.clicks() - before >= served, 30)
        time.sleep(1.5)
        assert setup.clicks() - before == served
        assert not setup.spools()
    finally:
        _stop(proc)


def test_kill_9_with_spooled_clicks_then_restart(setup: Setup) -> None:
    before = setup.clicks()
    proc, origin = setup.serve()
    load = Load(origin, setup.codes, workers=3)
    log = Path(str(setup.home / "placeholder.db") + f".serve-{origin.rsplit(':', 1)[1]}.log")
    try:
        warm = _visit_all(origin, setup.codes)
        setup.pg.stop()
        _wait("/healthz degraded", lambda: _health(origin).get("status") == "degraded", 5)
        load.start()
        time.sleep(3)
        load.stop()
        time.sleep(1)  # the recorder spools what it queued within a quarter of a second
        spools = setup.spools()
        spooled = _spooled_lines(spools)
        proc.kill()
        proc.wait(10)
        assert spooled >= load.served() > 100  # and the warm-up's, if queued at the stop
        served = warm + load.served()
        with spools[-1].open("a") as f:
            f.write('{"id":"feedface","link_id":"x","workspace_id":"default","at":"2026-')
    finally:
        load.stop()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(10)
        setup.pg.start()
    proc, origin = setup.serve()
    log = Path(str(setup.home / "placeholder.db") + f".serve-{origin.rsplit(':', 1)[1]}.log")
    try:
        _wait("the spool replayed", lambda: setup.clicks() - before >= served, 30)
        time.sleep(1.5)
        assert setup.clicks() - before == served  # once each; the torn line skipped
        assert not setup.spools()
    finally:
        _stop(proc)
    text = log.read_text()
    assert "its last line" in text and "not a whole click" in text, text[-2000:]


# --- SQLite on a disk that fills up ----------------------------------------------------


def _namespace_tmpfs() -> str | None:
    """Why a private tmpfs cannot be mounted here, or None when it can."""
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return "no unshare(1) or nsenter(1)"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt && echo ok"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if probe.stdout.strip() != "ok":
        return f"cannot mount a tmpfs in a mount namespace: {probe.stderr.strip()[:200]}"
    return None


def _sqlite_env(tmp_path: Path, db: Path, origin: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "CLYPT_DATABASE_URL": f"sqlite:///{db}",
        "CLYPT_BASE_URL": origin,
        "CLYPT_RATE_LIMIT": "1000000/minute",
        "CLYPT_CLICK_RATE": "1000000/minute",
    }


def _sqlite_fault_under_load(
    origin: str,
    codes: list[str],
    key: str,
    state: Path,
    *,
    fault: Callable[[], None],
    mend: Callable[[], None],
    written: Callable[[], int],
    noticed_within: float,
) -> None:
    """Steady redirects to `serve` on SQLite; `fault()` makes its file unwritable, `mend()`
    writable again. Meanwhile every redirect is a 302 in < 2 s and writes get 503
    `store_unavailable`; afterwards the file holds one click per 302 and no spool is left."""
    load = Load(origin, codes)
    try:
        _wait("serve up", lambda: httpx2.get(f"{origin}/healthz", timeout=2).status_code == 200, 30)
        warm = _visit_all(origin, codes)
        load.start()
        time.sleep(2)
        fault()
        broken = time.monotonic()
        _wait(
            "/healthz degraded", lambda: _health(origin).get("status") == "degraded", noticed_within
        )
        health = _health(origin)
        assert "SQLite" in str(health["reason"]), health
        r = httpx2.post(
            f"{origin}/api/v1/links", json={"url": "https://example.com/new"},
            headers={"Authorization": f"Bearer {key}"}, timeout=5,
        )  # fmt: skip
        assert r.status_code == 503 and r.json()["code"] == "store_unavailable", r.text
        time.sleep(5)
        mend()
        mended = time.monotonic()
        _wait("/healthz ok", lambda: _health(origin) == {"ok": True}, 15)
        load.stop()
        served = warm + load.served()
        _wait("every click written", lambda: written() >= served, 30)
        time.sleep(1.5)
        assert written() == served  # none lost, none doubled
        during = load.between(broken, mended)
        assert during and {status for _, _, status, _ in during} == {302}
        assert max(s for *_, s in during) < 2.0
        assert not list((state / "clypt").glob("*spool*"))
    finally:
        load.stop()


def _told_in_lines(log: Path) -> None:
    text = log.read_text()
    assert "spooling clicks" in text and "is back after" in text, text[-2000:]
    assert "Traceback" not in text, text[-4000:]  # an outage is told in lines, not tracebacks


def test_sqlite_disk_full_mid_run_then_space_again(tmp_path: Path) -> None:
    why = _namespace_tmpfs()
    if why is not None:
        pytest.skip(f"needs a private tmpfs (root, unshare -m): {why}")
    seed = tmp_path / "seed"
    seed.mkdir()
    anyio.run(_make_links, None, seed / "clypt.db", "s")
    key = make_key(seed / "clypt.db")
    disk = tmp_path / "disk"
    disk.mkdir()
    db = disk / "clypt.db"
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    script = (
        f"mount -t tmpfs -o size=24m tmpfs {disk} && cp {seed}/clypt.db {disk}/ && "
        f"exec {sys.executable} -m clypt_mcp serve --port {port}"
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", script], env=_sqlite_env(tmp_path, db, origin), stderr=err
        )
    filler = Path(f"/proc/{proc.pid}/root") / str(disk).lstrip("/") / "filler"

    def fill() -> None:
        with filler.open("wb") as f, contextlib.suppress(OSError):
            while True:  # fill the disk: bounded by the tmpfs' 24 MB
                f.write(b"\0" * 1024 * 1024)
                f.flush()

    def written() -> int:
        out = subprocess.run(
            ["nsenter", "-t", str(proc.pid), "-m", "--", sys.executable, "-c",
             "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("
             "'SELECT COUNT(*) FROM clicks').fetchone()[0])", str(db)],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return int(out.stdout)

    codes = [f"s{i:03d}" for i in range(LINKS)]
    try:
        _sqlite_fault_under_load(
            origin, codes, key, tmp_path / "state",
            fault=fill, mend=filler.unlink, written=written, noticed_within=20,
        )  # fmt: skip
    finally:
        _stop(proc)
    _told_in_lines(log)


# --- SQLite on a file made read-only -----------------------------------------------------


def _immutable_works(where: Path) -> str | None:
    """Why `chattr +i` cannot make an open file read-only here, or None when it can (ext4 and
    XFS refuse writes to an immutable file on descriptors already open; root is needed)."""
    if shutil.which("chattr") is None:
        return "no chattr(1)"
    probe = where / "immutable-probe"
    fd = os.open(probe, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        flag = subprocess.run(
            ["chattr", "+i", str(probe)], capture_output=True, text=True, check=False
        )
        if flag.returncode != 0:
            return f"chattr +i failed: {flag.stderr.strip()[:200]}"
        try:
            os.write(fd, b"x")
        except PermissionError:
            return None
        finally:
            subprocess.run(["chattr", "-i", str(probe)], check=False)
        return "a write on an open descriptor still succeeds on an immutable file here"
    finally:
        os.close(fd)
        probe.unlink()


def _chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *(str(p) for p in paths if p.exists())], check=True)


def test_sqlite_file_made_read_only_mid_run_then_writable_again(tmp_path: Path) -> None:
    """The database file and its WAL made immutable under a running `serve` (every write on its
    open descriptors fails, as on a read-only disk), then writable again: no restart."""
    why = _immutable_works(tmp_path)
    if why is not None:
        pytest.skip(f"needs chattr +i to refuse writes to an open file (ext4 or XFS, root): {why}")
    home = tmp_path / "home"
    home.mkdir()
    db = home / "clypt.db"
    anyio.run(_make_links, None, db, "r")
    key = make_key(db)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "clypt_mcp", "serve", "--port", str(port)],
            env=_sqlite_env(tmp_path, db, origin), stderr=err,
        )  # fmt: skip
    # the -shm file is left alone: it is mapped, and a write fault on an immutable mapping is
    # SIGBUS, which no disk that turned read-only would send
    files = (db, Path(f"{db}-wal"))

    def written() -> int:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            count: int = conn.execute("SELECT COUNT(*) FROM clicks").fetchone()[0]
        return count

    codes = [f"r{i:03d}" for i in range(LINKS)]
    try:
        _sqlite_fault_under_load(
            origin, codes, key, tmp_path / "state",
            fault=lambda: _chattr("+i", *files), mend=lambda: _chattr("-i", *files),
            written=written, noticed_within=10,
        )  # fmt: skip
    finally:
        subprocess.run(["chattr", "-i", *(str(p) for p in files if p.exists())], check=False)
        _stop(proc)
    _told_in_lines(log)
