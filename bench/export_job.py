"""An export job against the bare read of the same rows: the whole click log of N clicks
written as a CSV file into the store by `export_clicks`'s job, waited for as the tool waits
(A), and the same clicks only read through the service by paging `list_clicks` 100 at a time,
with nothing written (B, the floor: what the rows cost to read), on the same SQLite store, in
interleaved rounds. A/B is what making the file costs on top of reading the rows. (Over MCP,
B would also be one tool call, and one trip through the model, per 100 clicks.)

Usage: .venv/bin/python bench/export_job.py [--clicks 100000] [--runs 5]

The acceptance figure (issue #17): the job answers within a tool's time limit (the tools wait
CALL_WAIT = 45 s) with every row; the script exits non-zero when the median job time is over
it, or a job's file misses a row. The report gives each median, and A/B.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ALL_SCOPES, ClickEvent, ClickExport, ClickQuery, LinkCreate, Principal
from clypt_mcp.store.sqlite import SqliteStore
from clypt_mcp.tools.jobs import CALL_WAIT

P = Principal(workspace_id="default", scopes=ALL_SCOPES)


async def load(service: ClyptService, clicks: int) -> None:
    links = [
        await service.create_link(P, LinkCreate(url=f"https://e.com/{i}", code=f"bench-{i}"))
        for i in range(20)
    ]
    base = datetime(2026, 10, 1, tzinfo=UTC)
    batch: list[ClickEvent] = []
    for i in range(clicks):
        batch.append(
            ClickEvent(
                link_id=links[i % 20].id,
                workspace_id="default",
                at=base + timedelta(seconds=i * 13),
                country="FR",
                device="desktop",
                browser="Firefox",
                os="Linux",
                referrer="news.example.com",
                traffic="human",
                visitor=f"v{i % 9000:05d}",
            )
        )
        if len(batch) == 10_000:
            await service.store.record_clicks(batch)
            batch = []
    await service.store.record_clicks(batch)


async def by_job(service: ClyptService) -> tuple[float, int]:
    started = time.perf_counter()
    job = await service.jobs.start_export(P, ClickExport())
    done = await service.jobs.wait(P, job.id, None, CALL_WAIT)
    elapsed = time.perf_counter() - started
    assert done.status == "done" and done.result is not None, done
    text, _ = await service.jobs.export_file(P, job.id)
    return elapsed, text.count("\n") - 1


async def by_pages(service: ClyptService) -> tuple[float, int]:
    started = time.perf_counter()
    seen, cursor = 0, None
    while True:
        page = await service.list_clicks(P, ClickQuery(limit=100, cursor=cursor))
        seen += len(page.clicks)
        cursor = page.next_cursor
        if cursor is None:
            return time.perf_counter() - started, seen


async def main(clicks: int, runs: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        await store.open()
        try:
            service = ClyptService(store, base_url="https://clypt.test")
            await load(service, clicks)
            a: list[float] = []
            b: list[float] = []
            missing = False
            for _ in range(runs):
                t, rows = await by_job(service)
                a.append(t)
                missing |= rows != clicks
                t, rows = await by_pages(service)
                b.append(t)
                missing |= rows != clicks
        finally:
            await store.close()
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"clicks: {clicks}, runs: {runs}")
    print(f"A export job (CSV file, every row):  median {ma:.2f} s  (min {min(a):.2f})")
    print(f"B list_clicks pages of 100, no file: median {mb:.2f} s  (min {min(b):.2f})")
    print(f"A/B: {ma / mb:.2f}; the tool waits {CALL_WAIT:g} s")
    return 0 if ma < CALL_WAIT and not missing else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sys.exit(anyio.run(main, args.clicks, args.runs))
