"""ClickRecorder: takes clicks off the redirect's hot path and writes them in batches.

With a spool (`serve` gives it one), a batch the store cannot take now (it is away: see
`clypt_mcp.core.outage`) goes to the spool file on local disk instead, and the recorder replays
every spool of its store once the store answers again: at start, within a second or two of its
return, and every `SCAN_SECONDS` for spools other processes left behind."""

from __future__ import annotations

import logging
from datetime import datetime

import anyio
import anyio.to_thread

from clypt_mcp.core.outage import StoreHealth, is_outage
from clypt_mcp.core.spool import ClickSpool
from clypt_mcp.models import ClickEvent
from clypt_mcp.store.base import Store

log = logging.getLogger(__name__)

SCAN_SECONDS = 10.0  # how often to look for spools left by other processes


class ClickRecorder:
    """Queue clicks with `record()` (never blocks); `run()` writes them in batches.

    `run()` flushes when `batch_size` clicks wait or `interval` seconds pass, and drains the
    queue when `close()` is called, so a clean shutdown loses no click.

    The queue is a plain list that `record()` appends to and `run()` takes whole: both run on
    the event loop's thread, and a memory-object stream's bookkeeping cost every redirect
    more than the append does. `record()` sets an event only when the writer sleeps idle.
    """

    def __init__(
        self,
        store: Store,
        batch_size: int = 1000,
        interval: float = 0.25,
        *,
        spool: ClickSpool | None = None,
        health: StoreHealth | None = None,
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.interval = interval
        self.spool = spool
        self.health = health
        self.written = 0
        self.spooled = 0
        self.replayed = 0
        self._replay_due = spool is not None  # look for old spools at start
        self._last_scan = -SCAN_SECONDS
        self._queue: list[ClickEvent] = []
        self._closed = False
        self._idle = False  # run() waits on `_wake` for the first click of a batch
        self._wake = anyio.Event()

    def record(self, event: ClickEvent) -> None:
        """Queue one click.

        Raises:
            anyio.ClosedResourceError: after `close()`.
        """
        if self._closed:
            raise anyio.ClosedResourceError
        self._queue.append(event)
        if self._idle:
            self._idle = False
            self._wake.set()

    def close(self) -> None:
        """Stop taking clicks; `run()` writes what is queued and returns."""
        self._closed = True
        self._idle = False
        self._wake.set()

    async def run(self) -> None:
        """Write queued clicks until `close()`, then drain and return.

        A batch is written `interval` seconds after its first click arrives, so under load the
        writer wakes a few times a second for large batches rather than running all the time
        for small ones (each write holds the GIL for a while, which the event loop feels). When
        a full batch is written, the next one starts at once, so a backlog never waits.
        """
        backlog = False
        while True:
            if not self._closed and self.spool is not None:
                await self._maybe_replay()
            if not self._queue:
                if self._closed:
                    if self.spool is not None:
                        await anyio.to_thread.run_sync(self.spool.close)
                    return
                self._wake = anyio.Event()
                self._idle = True
                if self.spool is None:
                    await self._wake.wait()
                else:
                    with anyio.move_on_after(1.0):  # wake now and then to replay a spool
                        await self._wake.wait()
                    self._idle = False
                continue
            if not backlog and not self._closed:
                await anyio.sleep(self.interval)
            batch = self._queue[: self.batch_size]
            del self._queue[: self.batch_size]
            backlog = len(batch) >= self.batch_size
            await self._flush(batch)

    async def _maybe_replay(self) -> None:
        """Replay spools when the store is up and one is due: ours, after an outage; any
        left behind, at start and every `SCAN_SECONDS`."""
        assert self.spool is not None
        if self.health is not None and not self.health.up:
            self._replay_due = True
            return
        now = anyio.current_time()
        since = now - self._last_scan
        if since < 1.0 or (not self._replay_due and since < SCAN_SECONDS):
            return
        self._last_scan = now
        if not self._replay_due and not self.spool.files():
            return
        try:
            report = await self.spool.replay(self.store)
        except Exception as exc:
            if not is_outage(exc):
                log.exception("replaying the click spool failed")
            elif self.health is not None:
                self.health.mark_down(str(exc))
            self._replay_due = True
            return
        self._replay_due = False
        self.replayed += report.clicks

    async def _flush(self, batch: list[ClickEvent]) -> None:
        if not batch:
            return
        if self.spool is not None:
            try:
                await self.store.record_clicks(batch)
                self.written += len(batch)
                return
            except Exception as exc:
                if not is_outage(exc):
                    log.exception("writing %d clicks failed; spooling them", len(batch))
            try:
                self.spooled += await self.spool.append(batch)
                self._replay_due = True
            except OSError:
                log.exception("could not spool %d clicks: dropped", len(batch))
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


PURGE_CHUNK = 5000  # rows per transaction: short write locks, however much is due


async def fold_old_rollups(store: Store, before: datetime, chunk: int = PURGE_CHUNK) -> int:
    """Rollups follow the click retention: quarter-hour and hour buckets older than `before`
    keep no keys that visitors chose (Referer host, browser, OS, city), only their `other`
    sum; day buckets keep theirs (at most ROLLUP_KEYS each), and totals, countries, device
    types, traffic classes and unique visitors stay whole. A chunk per transaction; the rows
    folded."""
    cutoff = int(before.timestamp())
    total = 0
    while True:
        n = await store.fold_rollups(cutoff, chunk)
        total += n
        if n < chunk:
            return total


async def purge_clicks(store: Store, before: datetime, chunk: int = PURGE_CHUNK) -> int:
    """Delete the raw clicks (and first-visit marks) older than `before`, a chunk per
    transaction so redirects' click writes never wait long; the number of rows deleted."""
    cutoff = int(before.timestamp())
    total = 0
    while True:
        n = await store.purge_clicks(cutoff, chunk)
        total += n
        if n < chunk:
            return total
