"""copy_store: move everything one store holds into another (`clypt-mcp db copy`).

Rows travel as stored (ids, counters, rollups, visitor days, key hashes, idempotency answers),
table by table in foreign-key order, in batches paged by key, so a copy needs little memory
and both stores answer every query the same afterwards; the visitor-hash secret goes along, so
visitors keep their hashes. Copy from a store no one is writing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from clypt_mcp.errors import ConflictError
from clypt_mcp.store.base import TABLES, Store, row_key

Progress = Callable[[str, int, int], object]  # (table, rows copied so far, rows in the table)
BATCH = 10_000


async def copy_store(
    source: Store, target: Store, progress: Progress | None = None, force: bool = False
) -> dict[str, int]:
    """Copy every row of `source` into `target` (both open); returns rows copied per table.

    With `force`, the target's data is deleted first.

    Raises: ConflictError when the target holds data and `force` is not set.
    """
    if await has_data(target):
        if not force:
            raise ConflictError(
                "the target store already holds data — copy into an empty database, "
                "or pass --force to replace its data",
                field="target",
            )
        await target.clear_all()
    copied: dict[str, int] = {}
    for table in TABLES:
        total = await source.count_rows(table)
        if progress is not None:
            progress(table, 0, total)
        if table == "folders":
            copied[table] = await _copy_folders(source, target, total, progress)
        else:
            copied[table] = await _copy_table(source, target, table, total, progress)
    # the visitor-hash secret too, so visitors keep their hashes and today's uniques go on
    await target.set_visitor_secret(await source.visitor_secret())
    return copied


async def has_data(store: Store) -> bool:
    """True when any table of the store has a row."""
    for table in TABLES:
        if await store.count_rows(table):
            return True
    return False


async def _copy_table(
    source: Store, target: Store, table: str, total: int, progress: Progress | None
) -> int:
    """Page through `table`, reading the next batch while the last one is written."""
    done = 0
    send, receive = anyio.create_memory_object_stream[list[tuple[Any, ...]]](1)

    async def read() -> None:
        after: tuple[Any, ...] | None = None
        async with send:
            while rows := await source.dump_table(table, after, BATCH):
                after = row_key(table, rows[-1])
                await send.send(rows)

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        async with receive:
            async for rows in receive:
                await target.load_rows(table, rows)
                done += len(rows)
                if progress is not None:
                    progress(table, done, max(total, done))
    return done


async def _copy_folders(source: Store, target: Store, total: int, progress: Progress | None) -> int:
    """Folders, parents before their children (a folder's parent may have a larger id)."""
    rows: list[tuple[Any, ...]] = []
    after: tuple[Any, ...] | None = None
    while page := await source.dump_table("folders", after, BATCH):
        rows.extend(page)
        after = row_key("folders", page[-1])
    rows = parents_first(rows)
    done = 0
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        await target.load_rows("folders", batch)
        done += len(batch)
        if progress is not None:
            progress("folders", done, max(total, done))
    return done


def parents_first(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Folder rows (`id, workspace_id, parent_id, …`) ordered so each parent precedes its
    children (depth first, siblings in their given order)."""
    children: dict[Any, list[tuple[Any, ...]]] = {}
    ids = {row[0] for row in rows}
    roots = []
    for row in rows:
        if row[2] is None or row[2] not in ids:
            roots.append(row)
        else:
            children.setdefault(row[2], []).append(row)
    out: list[tuple[Any, ...]] = []
    stack = list(reversed(roots))
    while stack:
        row = stack.pop()
        out.append(row)
        stack.extend(reversed(children.pop(row[0], [])))
    for rest in children.values():  # only a cycle, which no store lets in, leaves rows here
        out.extend(rest)
    return out
