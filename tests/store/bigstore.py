"""A store full of varied data, made fast: links, tags, folders and keys go in as rows, clicks
through `record_clicks` so rollups and unique visitors are the store's own."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

from clypt_mcp.models import ClickEvent
from clypt_mcp.store.base import TABLES, Store, to_us

WORKSPACES = ("default", "team")
COUNTRIES = ("US", "DE", "JP", None)
DEVICES = ("desktop", "ios", "android")
BROWSERS = ("Chrome", "Safari", "Firefox")
SYSTEMS = ("Windows", "iOS", "Android")
REFERRERS = ("t.co", "news.ycombinator.com", None)


def _row(table: str, **values: Any) -> tuple[Any, ...]:
    columns, _ = TABLES[table]
    return tuple(values.get(c) for c in columns)


async def fill(store: Store, now: datetime, links: int, clicks: int, seed: int = 1) -> list[str]:
    """Fill an empty, open store; returns the link ids."""
    rng = random.Random(seed)
    now_us = to_us(now) or 0
    await store.load_rows(
        "workspaces", [_row("workspaces", id=w, created_at=0) for w in WORKSPACES]
    )
    folders = _folders(now_us)
    await store.load_rows("folders", folders)
    tags = [
        _row("tags", id=f"tag_{w}_{i:02d}", workspace_id=w, name=f"Tag{i}", created_at=now_us)
        for w in WORKSPACES
        for i in range(12)
    ]
    await store.load_rows("tags", tags)
    link_rows = [_link(rng, i, now_us, folders) for i in range(links)]
    for start in range(0, links, 5000):
        await store.load_rows("links", link_rows[start : start + 5000])
    pairs = {
        (row[0], f"tag_{row[1]}_{rng.randrange(12):02d}")
        for row in link_rows
        for _ in range(rng.randrange(4))
    }
    await store.load_rows("link_tags", sorted(pairs))
    keys = [
        _row(
            "api_keys",
            id=f"key_{i}",
            workspace_id="default",
            name=f"k{i}",
            prefix="clypt_abc",
            hash=f"{i:064x}",
            scopes="links:read",
            created_at=now_us,
        )
        for i in range(3)
    ]
    await store.load_rows("api_keys", keys)
    await store.put_idempotent("default", "once", "h", '{"id": "x"}', now)
    ids = [(row[0], row[1]) for row in link_rows]
    for start in range(0, clicks, 20000):
        n = min(20000, clicks - start)
        await store.record_clicks(sorted(_clicks(rng, ids, now, n), key=lambda e: e.at))
    return [i for i, _ in ids]


def _folders(now_us: int) -> list[tuple[Any, ...]]:
    out = []
    for w in WORKSPACES:
        # children get smaller ids than their parents, so a copy must order them
        out.append(
            _row("folders", id=f"fld_{w}_z", workspace_id=w, name="Marketing", created_at=now_us)
        )
        out.append(
            _row(
                "folders",
                id=f"fld_{w}_m",
                workspace_id=w,
                parent_id=f"fld_{w}_z",
                name="2026",
                created_at=now_us,
            )
        )
        out.append(
            _row(
                "folders",
                id=f"fld_{w}_a",
                workspace_id=w,
                parent_id=f"fld_{w}_m",
                name="Q1",
                created_at=now_us,
            )
        )
        out.append(
            _row("folders", id=f"fld_{w}_s", workspace_id=w, name="Sales", created_at=now_us)
        )
    return out


def _link(
    rng: random.Random, i: int, now_us: int, folders: list[tuple[Any, ...]]
) -> tuple[Any, ...]:
    ws = WORKSPACES[i % 7 == 0]
    created = now_us - rng.randrange(0, 90 * 86400) * 1_000_000
    extra: dict[str, Any] = {}
    if i % 5 == 0:
        extra["folder_id"] = rng.choice([f[0] for f in folders if f[1] == ws])
    if i % 11 == 0:
        extra["variants"] = json.dumps([{"url": "https://a.example/", "weight": 1, "label": "a"}])
        extra["geo"] = json.dumps({"DE": "https://de.example/"})
    if i % 13 == 0:
        extra["expires_at"] = now_us + rng.choice((-1, 1)) * 86400 * 1_000_000
    if i % 17 == 0:
        extra["deleted_at"] = now_us - 1
    return _row(
        "links",
        id=f"lnk_{rng.getrandbits(64):016x}",
        workspace_id=ws,
        code=f"c{i:05d}{'Ab'[i % 2]}",
        url=f"https://example.com/{i}?q={rng.randrange(1000)}",
        title=f"Link {i} {'spring' if i % 3 else 'Autumn'}",
        notes="private" if i % 4 == 0 else None,
        utm_source="news" if i % 6 == 0 else None,
        max_clicks=rng.choice((None, 5, 1000)),
        disabled=int(i % 19 == 0),
        track_conversions=int(i % 23 == 0),
        clicks=0,
        redirects=rng.randrange(10),
        created_at=created,
        updated_at=created,
        imported_clicks=0,
        **extra,
    )


def _clicks(
    rng: random.Random, ids: list[tuple[str, str]], now: datetime, n: int
) -> list[ClickEvent]:
    """Clicks as traffic has them: most on a few hot links in the last two hours, repeating a
    few thousand distinct visits, and a thin long tail over two months (each click of the tail
    costs rollup rows of its own)."""
    hot = [
        _click(rng, *rng.choice(ids[:50]), now - timedelta(seconds=rng.randrange(7200)))
        for _ in range(3000)
    ]
    out = []
    for i in range(n):
        if i % 50:
            out.append(rng.choice(hot))
        else:
            at = now - timedelta(seconds=rng.randrange(0, 60 * 86400))
            out.append(_click(rng, *rng.choice(ids), at))
    return out


def _click(rng: random.Random, link_id: str, workspace_id: str, at: datetime) -> ClickEvent:
    return ClickEvent(
        link_id=link_id,
        workspace_id=workspace_id,
        at=at,
        variant=rng.choice(("a", None)),
        country=rng.choice(COUNTRIES),
        device=rng.choice(DEVICES),
        browser=rng.choice(BROWSERS),
        os=rng.choice(SYSTEMS),
        referrer=rng.choice(REFERRERS),
        visitor=f"v{rng.randrange(300)}",
        bot=rng.random() < 0.08,
    )
