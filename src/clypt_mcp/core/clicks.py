"""ClickRecorder: takes clicks off the redirect's hot path and writes them in batches."""

from __future__ import annotations

import logging
import math

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from clypt_mcp.models import ClickEvent
from clypt_mcp.store.base import Store

log = logging.getLogger(__name__)


class ClickRecorder:
    """Queue clicks with `record()` (never blocks); `run()` writes them in batches.

    `run()` flushes when `batch_size` clicks wait or `interval` seconds pass, and drains the
    queue when `close()` is called, so a clean shutdown loses no click.
    """

    def __init__(self, store: Store, batch_size: int = 1000, interval: float = 0.25) -> None:
        self.store = store
        self.batch_size = batch_size
        self.interval = interval
        send, receive = anyio.create_memory_object_stream[ClickEvent](math.inf)
        self._send: MemoryObjectSendStream[ClickEvent] = send
        self._receive: MemoryObjectReceiveStream[ClickEvent] = receive
        self.written = 0

    def record(self, event: ClickEvent) -> None:
        """Queue one click.

        Raises:
            anyio.ClosedResourceError: after `close()`.
        """
        self._send.send_nowait(event)

    def close(self) -> None:
        """Stop taking clicks; `run()` writes what is queued and returns."""
        self._send.close()

    async def run(self) -> None:
        """Write queued clicks until `close()`, then drain and return.

        A batch is written `interval` seconds after its first click arrives, so under load the
        writer wakes a few times a second for large batches rather than running all the time
        for small ones (each write holds the GIL for a while, which the event loop feels). When
        a full batch is written, the next one starts at once, so a backlog never waits.
        """
        async with self._receive:
            backlog = False
            while True:
                try:
                    batch = [await self._receive.receive()]
                except anyio.EndOfStream:
                    return
                if not backlog:
                    await anyio.sleep(self.interval)
                while len(batch) < self.batch_size:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                backlog = len(batch) >= self.batch_size
                await self._flush(batch)

    async def _flush(self, batch: list[ClickEvent]) -> None:
        if not batch:
            return
        for attempt in range(5):
            try:
                await self.store.record_clicks(batch)
                self.written += len(batch)
                return
            except Exception:
                log.exception("writing %d clicks failed (attempt %d)", len(batch), attempt + 1)
                await anyio.sleep(0.2 * (attempt + 1))
        log.error("dropped %d clicks after repeated store failures", len(batch))
