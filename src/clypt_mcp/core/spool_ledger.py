"""Write spooled clicks exactly once: `record_spooled(store, items)` records `(click id,
click)` pairs in one transaction of the store (`Store.record_spooled`, table `spooled_clicks`):
the ids go in first, and only the clicks whose id was new are recorded, with the store's own
click insert (clicks, link counters, rollups, first visits). A batch replayed twice (a crash
after the commit and before the spool file was removed, two processes replaying the same file)
therefore writes nothing the second time. Ids older than `KEEP_SECONDS` are pruned then too.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clypt_mcp.models import ClickEvent
    from clypt_mcp.store.base import Store

KEEP_SECONDS = 90 * 86400  # a spool older than this may be replayed twice


async def record_spooled(store: Store, items: list[tuple[str, ClickEvent]]) -> int:
    """Record the clicks whose ids were never recorded; how many were new."""
    if not items:
        return 0
    return await store.record_spooled(items, int(time.time()), KEEP_SECONDS)
