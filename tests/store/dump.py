"""Every row of a store, table by table, through the Store's own `dump_table`."""

from __future__ import annotations

from typing import Any

from clypt_mcp.store.base import TABLES, Store, row_key


async def dump_all(store: Store, batch: int = 10_000) -> dict[str, list[tuple[Any, ...]]]:
    """All rows of every table, in key order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in TABLES:
        rows: list[tuple[Any, ...]] = []
        after: tuple[Any, ...] | None = None
        while page := await store.dump_table(table, after, batch):
            rows.extend(page)
            after = row_key(table, page[-1])
        out[table] = rows
    return out
