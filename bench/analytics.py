"""How get_analytics scales with the number of clicks: 10,000 vs 1,000,000 in a fresh store.

Usage: .venv/bin/python bench/analytics.py [--small 10000] [--large 1000000] [--runs 30]
                                           [--repeat 1] [--links 100] [--conversions 0]
                                           [--before SRC]

Each store gets its clicks spread over the last 30 days across `--links` links in 10 folders
(each link also tagged with one of 10 tags), then `get_analytics(period=30d)` for the whole
workspace, for one folder and for one tag (every breakdown, the time series, exact unique
visitors, the previous period) is timed `--runs` times after a warm-up. A folder's and a tag's
whole past days come from the per-set day cache (`set_days`): the first query of each (timed
once, "cold", before the warm-up) fills it from the links' rollups and visitor marks. The
report gives the median and p90 of each and the ratio large/small; with `--repeat N` the timed
runs are done N times over (the stores loaded once) and the verdict takes the median ratio and
the median large figure of the repeats. The acceptance target: the large median is at most
1.5x the small one and under 50 ms.

`--conversions N` (#15) makes the links track conversions and gives the large store N
conversions (the small one the same share of its clicks), each for a random click of the
store, written through `Store.insert_conversion` (the one write path, which also counts
`conversion_rollups`): 70 % `purchase` with a value in EUR or USD, 30 % `signup`. The queries
then read conversions, revenue, events and every breakdown's conversions too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from clypt_mcp.core.redirects import new_click_id
from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import AnalyticsQuery, ClickEvent, LinkCreate, Principal, new_id
from clypt_mcp.store.base import ConversionRecord, Store
from clypt_mcp.store.sqlite import SqliteStore

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
P = Principal(workspace_id="default")
COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "ES", "IT", "NL", "SE", "PL", "MX",
             "AU", "KR", "CN", "TR", "AR", "ZA"]  # fmt: skip
BROWSERS = ["Chrome", "Safari", "Firefox", "Edge", "Opera", "Samsung Internet"]
OSES = ["Windows", "macOS", "iOS", "Android", "Linux", "ChromeOS"]
DEVICES = ["desktop", "ios", "android"]
REFERRERS = [None, "t.co", "news.ycombinator.com", "www.google.com", "www.linkedin.com",
             "www.reddit.com", "mail.google.com", "duckduckgo.com"]  # fmt: skip


async def load(
    path: Path, clicks: int, seed: int, n_links: int = 100, conversions: int = 0
) -> tuple[ClyptService, SqliteStore]:
    store = SqliteStore(path)
    await store.open()
    return await fill(store, clicks, seed, n_links, conversions), store


async def fill(
    store: Store, clicks: int, seed: int, n_links: int = 100, conversions: int = 0
) -> ClyptService:
    """Links in 10 folders and 10 tags, and `clicks` clicks over the last 30 days, in `store`
    (open), with `conversions` of random clicks among them; the service over it."""
    service = ClyptService(store, clock=lambda: NOW)
    links = []
    for i in range(n_links):
        link = await service.create_link(
            P,
            LinkCreate(
                url=f"https://example.com/{i}",
                folder=f"F{i % 10}",
                tags=[f"t{i * 7 % 10}"],
                track_conversions=conversions > 0,
            ),
        )
        links.append(link.id)
    rng = random.Random(seed)
    span = 30 * 86400
    times = sorted(rng.randrange(span) for _ in range(clicks))
    converting = set(rng.sample(range(clicks), min(conversions, clicks)))
    converted: list[ClickEvent] = []
    batch: list[ClickEvent] = []
    for i, offset in enumerate(times):
        batch.append(
            ClickEvent(
                link_id=rng.choice(links),
                workspace_id="default",
                at=NOW - timedelta(seconds=span - offset),
                country=rng.choice(COUNTRIES),
                device=rng.choice(DEVICES),
                browser=rng.choice(BROWSERS),
                os=rng.choice(OSES),
                referrer=rng.choice(REFERRERS),
                visitor=f"v{rng.randrange(clicks // 4 + 1)}",
                bot=rng.random() < 0.03,
                click_id=new_click_id() if conversions else None,
            )
        )
        if i in converting:
            converted.append(batch[-1])
        if len(batch) == 5000:
            await store.record_clicks(batch)
            batch = []
    await store.record_clicks(batch)
    for click in converted:
        await store.insert_conversion(conversion_for(click, rng))
    return service


def conversion_for(click: ClickEvent, rng: random.Random) -> ConversionRecord:
    """A conversion of `click`, attributed as the service would (what the click recorded)."""
    purchase = rng.random() < 0.7
    assert click.click_id is not None
    return ConversionRecord(
        id=new_id("cnv"),
        workspace_id=click.workspace_id,
        link_id=click.link_id,
        click_id=click.click_id,
        event="purchase" if purchase else "signup",
        value=rng.randrange(500, 20_000) if purchase else None,
        currency=rng.choice(["EUR", "USD"]) if purchase else None,
        external_id=None,
        occurred_at=click.at + timedelta(minutes=rng.randrange(1, 600)),
        created_at=NOW,
        click_ts=click.ts,
        variant=click.variant,
        country=click.country,
        device=click.device,
        referrer=click.referrer,
    )


async def time_query(service: ClyptService, query: AnalyticsQuery) -> float:
    t0 = time.perf_counter()
    await service.get_analytics(P, query)
    return (time.perf_counter() - t0) * 1000


async def time_query_cpu(service: ClyptService, query: AnalyticsQuery) -> tuple[float, float]:
    """Wall and CPU ms (user + system of the whole process: the query runs in a worker
    thread) of one query; the CPU figure moves far less with other load on the machine."""
    c0, t0 = time.process_time(), time.perf_counter()
    await service.get_analytics(P, query)
    return (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000


QUERIES = {
    "whole workspace": AnalyticsQuery(period="30d", top=10),
    "folder F3": AnalyticsQuery(period="30d", top=10, folder="F3"),
    "tag t5": AnalyticsQuery(period="30d", top=10, tag="t5"),
}


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.9) - 1)]


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--links", type=int, default=100)
    parser.add_argument(
        "--conversions",
        type=int,
        default=0,
        help="conversions in the large store (the small one gets the same share of its clicks)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="time the interleaved runs this many times over"
    )
    parser.add_argument(
        "--before",
        default=None,
        metavar="SRC",
        help="also time Clypt from this source folder (PYTHONPATH) on the same stores, each "
        "side in its own process, rounds interleaved",
    )
    parser.add_argument("--time-db", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_db:  # a child of --before: time queries on one store, print the samples
        store = SqliteStore(args.time_db)
        await store.open()
        service = ClyptService(store, clock=lambda: NOW)
        for query in QUERIES.values():  # warm-up
            await time_query(service, query)
        times = {q: [await time_query_cpu(service, query) for _ in range(args.runs)]
                 for q, query in QUERIES.items()}  # fmt: skip
        print(json.dumps(times))
        await store.close()
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for name, count in (("small", args.small), ("large", args.large)):
            t0 = time.perf_counter()
            share = args.conversions * count // max(1, args.large)
            stores[name] = await load(Path(tmp) / f"{name}.db", count, count, args.links, share)
            print(f"{name}: {count:,} clicks and {share:,} conversions loaded in "
                  f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        repeats: list[dict[tuple[str, str], list[float]]] = []
        for name in stores:  # cold: the first query of each (a set's fills its day cache)
            for q, query in QUERIES.items():
                cold = await time_query(stores[name][0], query)
                print(f"{name}: first get_analytics(30d, {q}) {cold:.2f} ms")
        for name in stores:  # warm-up: caches, statement preparation
            for query in QUERIES.values():
                await time_query(stores[name][0], query)
        for _ in range(args.repeat):
            samples: dict[tuple[str, str], list[float]] = {
                (name, q): [] for name in stores for q in QUERIES
            }
            for _ in range(args.runs):  # interleaved, so machine noise hits both alike
                for q, query in QUERIES.items():
                    for name in ("small", "large"):
                        samples[name, q].append(await time_query(stores[name][0], query))
            repeats.append(samples)
        for _, store in stores.values():
            await store.close()
        if args.before:
            compare_before(args, Path(tmp))
    ok = True
    ratios: dict[str, list[float]] = {q: [] for q in QUERIES}
    largest: dict[str, list[float]] = {q: [] for q in QUERIES}
    for r, samples in enumerate(repeats):
        if len(repeats) > 1:
            print(f"repeat {r + 1}:")
        for q in QUERIES:
            medians = {}
            for name, count in (("small", args.small), ("large", args.large)):
                median, p90 = summary(samples[name, q])
                medians[name] = median
                print(f"{count:>9,} clicks: get_analytics(30d, {q}) median {median:6.2f} ms, "
                      f"p90 {p90:6.2f} ms")  # fmt: skip
            ratios[q].append(medians["large"] / medians["small"])
            largest[q].append(medians["large"])
            print(f"  {q}: ratio large/small (median) {ratios[q][-1]:.2f}")
    for q in QUERIES:  # over the repeats: the median ratio and the median large figure
        ratio, ms = statistics.median(ratios[q]), statistics.median(largest[q])
        met = ratio <= 1.5 and ms < 50
        ok = ok and met
        print(f"{q}: ratio {ratio:.2f} (median of {len(repeats)}), large {ms:.2f} ms:",
              "met" if met else "MISSED")  # fmt: skip
    print("target (<= 1.5x and < 50 ms):", "met" if ok else "MISSED")
    return 0 if ok else 1


def compare_before(args: argparse.Namespace, tmp: Path) -> None:
    """The same query on the same two stores from this tree and from `--before`, each side in a
    fresh process per round (5 timed queries after a warm-up), sides alternating; wall and CPU
    time of each."""
    sides = {"after": dict(os.environ), "before": os.environ | {"PYTHONPATH": args.before}}
    samples: dict[tuple[str, str, str], list[list[float]]] = {}
    for r in range(max(1, args.runs // 5)):
        for side in list(sides)[:: 1 if r % 2 == 0 else -1]:
            for name in ("small", "large"):
                out = subprocess.run(
                    [sys.executable, __file__, "--time-db", str(tmp / f"{name}.db"), "--runs", "5"],
                    env=sides[side], capture_output=True, text=True, check=True,
                )  # fmt: skip
                for q, values in json.loads(out.stdout).items():
                    samples.setdefault((q, name, side), []).extend(values)
    print("before/after, interleaved:")
    for (q, name, side), values in sorted(samples.items()):
        median, p90 = summary([wall for wall, _ in values])
        cpu = statistics.median(c for _, c in values)
        print(f"  {q:15} {name:5} {side:6}: median {median:6.2f} ms, p90 {p90:6.2f} ms, "
              f"CPU median {cpu:6.2f} ms")  # fmt: skip


if __name__ == "__main__":
    sys.exit(anyio.run(main))
