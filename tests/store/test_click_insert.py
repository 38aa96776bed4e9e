"""A batch of clicks goes into SQLite as one statement, and every value comes back as given.

`executemany` runs a step per row, and each step hands the GIL back and has to win it again
from the event loop: with the loop busy serving redirects, 1,000 clicks held the one SQLite
connection for 0.6-1.2 s, long enough that a link lookup queued behind it missed its 1.5 s
deadline and marked the store down (issue #20; seen as clicks spooled in bench/workers_pg.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ClickEvent, LinkCreate, Principal
from clypt_mcp.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

OWNER = Principal(workspace_id="default")


def clicks_for(link_id: str, n: int) -> list[ClickEvent]:
    start = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    return [
        ClickEvent(
            link_id=link_id,
            workspace_id="default",
            at=start + timedelta(seconds=i),
            variant=None if i % 3 else f"#{i % 2 + 1}",
            country=["GB", "DE", None][i % 3],
            device="mobile" if i % 2 else "desktop",
            browser="Firefox",
            os=None if i % 5 == 0 else "Linux",
            referrer='bücher.example — ✓ "quoted" \\ \' 𝄞' if i % 4 == 0 else None,
            visitor=f"v{i % 7}",
            bot=i % 11 == 0,
            traffic=None if i % 11 else "crawler",
            city="Zürich, ZH, CH" if i % 6 == 0 else None,
            click_id=f"cid_{i}" if i % 2 else None,
        )
        for i in range(n)
    ]


async def test_a_batch_is_one_insert_and_reads_back_exactly(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    try:
        service = ClyptService(store, base_url="https://s.example")
        link = await service.create_link(OWNER, LinkCreate(url="https://example.com/a"))
        events = clicks_for(link.id, 500)
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        try:
            await store.record_clicks(events)
        finally:
            store.conn.set_trace_callback(None)
        inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO CLICKS")]
        assert len(inserts) == 1, f"{len(inserts)} INSERT statements for 500 clicks"

        rows = store.conn.execute(
            """SELECT workspace_id, link_id, ts, variant, country, device, browser, os, referrer,
                      visitor, bot, traffic, city, click_id FROM clicks ORDER BY id"""
        ).fetchall()
        want = [
            (e.workspace_id, e.link_id, e.ts, e.variant, e.country, e.device, e.browser, e.os,
             e.referrer, e.visitor, int(e.bot), e.traffic, e.city, e.click_id)
            for e in events
        ]  # fmt: skip
        assert rows == want
        assert [type(r[2]) for r in rows[:2]] == [int, int]  # stored as integers, not text
        got = await service.get_link(OWNER, link.id)
        assert got.clicks == sum(not e.bot for e in events)  # crawlers are not counted
    finally:
        await store.close()


async def test_batches_over_any_number_of_links_share_a_few_statements(tmp_path: Path) -> None:
    """Python's sqlite3 keeps up to 128 prepared statements per connection, one per SQL text.
    A batch's `id IN (...)` list of its links once had a text per length, so a busy server held
    128 large statements (~10 MiB in bench/redirect_memory.py, #20); the lists are padded to a
    power of two now, and the counts stay exact."""
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    try:
        service = ClyptService(store, base_url="https://s.example")
        links = [
            await service.create_link(OWNER, LinkCreate(url=f"https://example.com/{i}"))
            for i in range(40)
        ]
        lengths: set[int] = set()

        def seen(sql: str) -> None:
            head = "SELECT id FROM links WHERE id IN ("
            if sql.lstrip().startswith(head):
                lengths.add(sql.split(head, 1)[1].split(")", 1)[0].count(",") + 1)

        store.conn.set_trace_callback(seen)
        try:
            for n in range(1, 41):  # a batch with one click on each of the first n links
                await store.record_clicks([clicks_for(link.id, 2)[1] for link in links[:n]])
        finally:
            store.conn.set_trace_callback(None)
        assert lengths == {1, 2, 4, 8, 16, 32, 64}
        for i, link in enumerate(links):  # link i was in the batches n = i+1 .. 40
            assert (await service.get_link(OWNER, link.id)).clicks == 40 - i
    finally:
        await store.close()
