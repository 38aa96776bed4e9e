"""A third process that writes to the same SQLite file through the core service."""

from __future__ import annotations

import sys

import anyio

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import LinkCreate, Principal
from clypt_mcp.store.sqlite import SqliteStore


async def main(path: str, count: int) -> None:
    store = SqliteStore(path)
    await store.open()
    service = ClyptService(store)
    principal = Principal(workspace_id="default")
    try:
        for i in range(count):
            await service.create_link(principal, LinkCreate(url=f"https://example.com/c/{i}"))
    finally:
        await store.close()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]))
