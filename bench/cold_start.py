"""Cold start over stdio: spawn -> JSON-RPC answer to `initialize`, Clypt vs a bare MCPServer.

Usage: .venv/bin/python bench/cold_start.py [--runs N] [--warmup N] [--max-diff MS]

Each sample spawns a fresh process, writes one `initialize` request (protocolVersion 2025-11-25)
on its stdin and stops the clock when the matching response line arrives on its stdout. Raw pipes
and a bounded read are used, not the SDK client, so only the server's own start-up is measured.
Then stdin is closed and the child is waited for (killed if it does not exit in time).

Three commands run interleaved in rounds, so machine noise hits all of them alike:

  A          bench/bare_server.py: `MCPServer` with one trivial tool
  B existing `clypt-mcp` (stdio, embedded SQLite) on a database created before the runs
  B fresh    `clypt-mcp` on a new database each time (first start: creates and migrates it)

Exit status: 0 if median(B existing) - median(A) <= --max-diff (default 150 ms), 1 if not
(with --gate fresh or both, the fresh-database figure is checked too), 2 if a run failed.
Only local processes; no network.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "cold-start-bench", "version": "0"},
    },
}
# What an MCP host typically passes on to a stdio server (plus the server's own `env` block).
PASSED_ENV = ("PATH", "LOGNAME", "USER", "SHELL", "TERM", "LANG")


class RunError(Exception):
    """A run that did not produce a valid `initialize` answer."""


@dataclass
class Command:
    label: str
    argv: list[str]
    env: Callable[[], dict[str, str]]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def time_initialize(
    argv: list[str], env: dict[str, str], timeout: float, workdir: Path
) -> tuple[float, float]:
    """(ms from spawn to the whole `initialize` answer on stdout, CPU ms of the child's life)."""
    request = (json.dumps(INITIALIZE) + "\n").encode()
    with tempfile.TemporaryFile(dir=workdir) as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            bufsize=0,
            start_new_session=True,  # so a kill reaches anything the command spawned
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(request)
            response = _read_response(proc.stdout.fileno(), start + timeout)
            elapsed = (time.perf_counter() - start) * 1000
            if response is None:
                raise RunError(f"no initialize response within {timeout:.0f} s")
            if "result" not in response:
                raise RunError(f"initialize failed: {json.dumps(response)[:300]}")
            return elapsed, _stop(proc, timeout)
        except (RunError, BrokenPipeError) as exc:
            _stop(proc, 0)
            stderr.seek(0)
            tail = stderr.read()[-2000:].decode(errors="replace")
            raise RunError(f"{' '.join(argv)}: {exc!r}\n--- stderr (tail) ---\n{tail}") from None
        finally:
            proc.stdout.close()
            if proc.returncode is None:
                _stop(proc, 0)


def _read_response(fd: int, deadline: float) -> dict[str, object] | None:
    """Read stdout lines until the JSON-RPC message with id 1 arrives, or the deadline/EOF."""
    buffer = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (remaining := deadline - time.perf_counter()) > 0:
            if not sel.select(remaining):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RunError("stdout closed before the initialize response")
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # a stray non-protocol line; a strict host might give up here
                if isinstance(message, dict) and message.get("id") == INITIALIZE["id"]:
                    return message
    return None


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> float:
    """Close stdin (the stdio shutdown signal), reap the child (killed after `timeout` s).

    Returns the child's user + system CPU time in ms, from its resource usage at exit.
    """
    if proc.stdin is not None and not proc.stdin.closed:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    deadline = time.perf_counter() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() >= deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.002)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (usage.ru_utime + usage.ru_stime) * 1000


def p90(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]
    )


def build_commands(
    tmp: Path, clypt: str, before: str | None = None, also: Sequence[str] = ()
) -> list[Command]:
    base = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    base |= {"HOME": str(tmp / "home"), "XDG_DATA_HOME": str(tmp / "home" / ".local" / "share")}
    (tmp / "home").mkdir()
    fresh_count = 0

    def bare_env() -> dict[str, str]:
        return dict(base)

    def existing_env() -> dict[str, str]:
        return base | {"CLYPT_DATABASE_URL": f"sqlite:///{tmp / 'existing' / 'clypt.db'}"}

    def fresh_env() -> dict[str, str]:
        nonlocal fresh_count
        fresh_count += 1
        folder = tmp / f"fresh-{fresh_count}"
        folder.mkdir()
        return base | {"CLYPT_DATABASE_URL": f"sqlite:///{folder / 'clypt.db'}"}

    def tree_env(src: str, folder: str) -> Callable[[], dict[str, str]]:
        (tmp / folder).mkdir()
        db = tmp / folder / "clypt.db"
        return lambda: base | {"CLYPT_DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": src}

    (tmp / "existing").mkdir()
    commands = [
        Command("A  bare MCPServer", [sys.executable, str(BENCH / "bare_server.py")], bare_env),
        Command("B  clypt-mcp, existing db", [clypt], existing_env),
        Command("B  clypt-mcp, fresh db", [clypt], fresh_env),
    ]
    if before is not None:  # another source tree of Clypt, e.g. the commit before a change
        env = tree_env(before, "existing-before")
        commands.append(Command("B  clypt-mcp before, existing db", [clypt], env))
    for i, src in enumerate(also):  # more trees, e.g. one change alone between before and now
        env = tree_env(src, f"existing-also-{i}")
        commands.append(Command(f"B  clypt-mcp {src}, existing db", [clypt], env))
    return commands


def run_rounds(
    commands: list[Command], rounds: int, timeout: float, tmp: Path, record: bool
) -> None:
    """Round r runs every command once, starting at a rotating offset (A,Bx,Bf / Bx,Bf,A / ...)."""
    for r in range(rounds):
        for i in range(len(commands)):
            cmd = commands[(r + i) % len(commands)]
            wall, cpu = time_initialize(cmd.argv, cmd.env(), timeout, tmp)
            if record:
                cmd.wall.append(wall)
                cmd.cpu.append(cpu)
        if record:
            print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)


def report(commands: list[Command], args: argparse.Namespace, load: list[float]) -> int:
    bare, existing, fresh = commands[:3]
    cpus = os.cpu_count()
    print(
        f"Cold start over stdio: spawn -> `initialize` answer (2025-11-25), {args.runs} runs each"
    )
    print(
        f"machine: nproc={cpus}, Python {platform.python_version()}, {platform.system()}; ", end=""
    )
    print(f"1-min load average {load[0]:.2f} before, {load[1]:.2f} after")
    print()
    print("| command | median ms | p90 ms | min ms | B−A ms | B/A | CPU ms | CPU B−A ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    a_wall, a_cpu = statistics.median(bare.wall), statistics.median(bare.cpu)
    failed = []
    for cmd in commands:
        med, cpu = statistics.median(cmd.wall), statistics.median(cmd.cpu)
        row = [f"{med:.0f}", f"{p90(cmd.wall):.0f}", f"{min(cmd.wall):.0f}"]
        if cmd is bare:
            row += ["—", "—", f"{cpu:.0f}", "—"]
        else:
            row += [
                f"{med - a_wall:+.0f}",
                f"{med / a_wall:.2f}",
                f"{cpu:.0f}",
                f"{cpu - a_cpu:+.0f}",
            ]
        print(f"| {cmd.label.replace('  ', ' ')} | {' | '.join(row)} |")
        gated = (cmd is existing and args.gate in ("existing", "both")) or (
            cmd is fresh and args.gate in ("fresh", "both")
        )
        if gated and med - a_wall > args.max_diff:
            failed.append(f"{cmd.label.split('  ')[1]}: {med - a_wall:+.0f} ms")
    print()
    print("ms columns: wall time, spawn -> answer; CPU ms: user+sys of the whole child (median).")
    if max(load) > (cpus or 1):  # this benchmark itself keeps about one CPU busy
        print(
            "warning: the machine was busy (load average above the CPU count): wall figures are "
            "noisy; re-run, or compare the CPU columns"
        )
    if failed:
        print(f"FAIL: median B−A over {args.max_diff:.0f} ms ({'; '.join(failed)})")
        return 1
    print(f"OK: median B−A within {args.max_diff:.0f} ms (gate: {args.gate} db)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs per command (15)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="unmeasured rounds first (2, at least 1)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per run (30)")
    parser.add_argument("--max-diff", type=float, default=150.0, help="ms allowed for B−A (150)")
    parser.add_argument(
        "--gate",
        choices=["existing", "fresh", "both"],
        default="existing",
        help="which Clypt figure the exit status checks (existing)",
    )
    parser.add_argument("--clypt", default=None, help="clypt-mcp executable (next to python)")
    parser.add_argument(
        "--before",
        default=None,
        metavar="SRC",
        help="also time Clypt from this source folder (PYTHONPATH), e.g. an older commit's src",
    )
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="SRC",
        help="time Clypt from this source folder too (repeatable), labelled with its path",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    clypt = args.clypt or str(Path(sys.executable).parent / "clypt-mcp")
    if not Path(clypt).exists():
        clypt = shutil.which("clypt-mcp") or parser.error("clypt-mcp not found; pass --clypt")
    with tempfile.TemporaryDirectory(prefix="clypt-cold-start-") as name:
        tmp = Path(name)
        commands = build_commands(tmp, clypt, args.before, args.also)
        try:
            # Warm-up also creates the "existing" database and warms the page cache for all.
            run_rounds(commands, max(args.warmup, 1), args.timeout, tmp, record=False)
            load = [os.getloadavg()[0]]
            run_rounds(commands, args.runs, args.timeout, tmp, record=True)
            load.append(os.getloadavg()[0])
        except RunError as exc:
            print(f"run failed: {exc}", file=sys.stderr)
            return 2
        return report(commands, args, load)


if __name__ == "__main__":
    sys.exit(main())
