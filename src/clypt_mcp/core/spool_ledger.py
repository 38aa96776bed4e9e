"""STORE ADDITION (to port into the SQL layer): write spooled clicks exactly once.

`record_spooled(store, items)` writes `(click id, click)` pairs in one transaction: the ids go
into the table `spooled_clicks` first (`ON CONFLICT DO NOTHING`), and only the clicks whose id
was new are recorded, with the store's own click insert (`record_clicks`' SQL: clicks, link
counters, rollups, first visits). A batch replayed twice — a crash after the commit and before
the spool file was removed, two processes replaying the same file — therefore writes nothing
the second time. Ids older than `KEEP_SECONDS` are pruned in the same transaction.

It lives outside `clypt_mcp.store` only because that package is being rewritten concurrently;
it reaches into the stores' transaction helpers (`_tx`) and click SQL. Schema (both
dialects), created on first use:

    CREATE TABLE IF NOT EXISTS spooled_clicks (id TEXT PRIMARY KEY, at BIGINT NOT NULL)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clypt_mcp.models import ClickEvent
    from clypt_mcp.store.base import Store

KEEP_SECONDS = 90 * 86400  # a spool older than this may be replayed twice
_TABLE = "CREATE TABLE IF NOT EXISTS spooled_clicks (id TEXT PRIMARY KEY, at BIGINT NOT NULL)"


async def record_spooled(store: Store, items: list[tuple[str, ClickEvent]]) -> int:
    """Record the clicks whose ids were never recorded; how many were new."""
    if not items:
        return 0
    from clypt_mcp.store.sqlite import SqliteStore

    now = int(time.time())
    inner: Any = store
    while hasattr(inner, "inner"):  # the store itself, never a guard
        inner = inner.inner
    if isinstance(inner, SqliteStore):
        from clypt_mcp.store.sqlite import _record_clicks

        def job(db: Any) -> int:
            db.execute(_TABLE)
            db.execute("DELETE FROM spooled_clicks WHERE at < ?", (now - KEEP_SECONDS,))
            fresh = [
                event
                for click_id, event in items
                if db.execute(
                    "INSERT OR IGNORE INTO spooled_clicks (id, at) VALUES (?, ?)", (click_id, now)
                ).rowcount
            ]
            if fresh:
                _record_clicks(db, fresh)
            return len(fresh)

        return int(await inner._tx(job))

    from clypt_mcp.store import postgres_clicks

    async def pg_job(conn: Any) -> int:
        await conn.execute(_TABLE)
        await conn.execute("DELETE FROM spooled_clicks WHERE at < %s", (now - KEEP_SECONDS,))
        cur = await conn.execute(
            """INSERT INTO spooled_clicks (id, at) SELECT unnest(%s::text[]), %s
               ON CONFLICT DO NOTHING RETURNING id""",
            ([click_id for click_id, _ in items], now),
        )
        new = {row[0] for row in await cur.fetchall()}
        fresh = [event for click_id, event in items if click_id in new]
        if fresh:
            await postgres_clicks.record_clicks(conn, fresh)
        return len(fresh)

    return int(await inner._tx(pg_job))
