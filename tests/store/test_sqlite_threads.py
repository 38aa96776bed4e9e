"""SQLite jobs queue for the one connection without a worker thread each (#20: memory).

Every job takes the connection's lock in turn; before, each waiting job sat in a thread of its
own (up to anyio's 40), and each such thread kept a malloc arena. Now they wait in the event
loop and one thread at a time runs them.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import pytest

from clypt_mcp.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


async def test_thirty_waiting_jobs_use_one_worker_thread(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    try:
        before = threading.active_count()
        seen: list[int] = []
        ran: list[int] = []

        def job(q: object) -> None:
            seen.append(threading.active_count())
            time.sleep(0.002)
            ran.append(1)

        async with anyio.create_task_group() as tg:
            for _ in range(30):
                tg.start_soon(store.db.run, job)
        assert len(ran) == 30
        assert max(seen) <= before + 1, f"{max(seen) - before} more threads for 30 jobs"
    finally:
        await store.close()


async def test_a_job_asked_for_runs_to_its_end_even_when_its_caller_is_cancelled(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    try:
        ran: list[int] = []

        def slow(q: object) -> None:
            time.sleep(0.05)

        def job(q: object) -> None:
            ran.append(1)

        async with anyio.create_task_group() as tg:
            tg.start_soon(store.db.run, slow)
            await anyio.sleep(0.01)
            with anyio.move_on_after(0.001):
                await store.db.run(job)  # queued behind `slow`, then cancelled
        assert ran == [1]  # as when it waited on the lock in a thread of its own
    finally:
        await store.close()
