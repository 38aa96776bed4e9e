"""Housekeeping: what `serve` deletes on a schedule, so no table grows without end.

Each pass (at start, then every `every` seconds) deletes:

- raw clicks and first-visit marks older than `CLYPT_CLICK_RETENTION_DAYS`, when it is set
  (link counters and rollups stay, so analytics and click counts are whole; only exports see
  the shorter history), and with them the keys visitors chose (Referer host, browser, OS,
  city) of the quarter-hour and hour rollups older than that, folded into `other` (day
  rollups keep theirs);
- idempotency keys remembered for more than `IDEMPOTENCY_HOURS` (a retry comes within minutes;
  the same key a day later makes a new link);
- request counters (rate limits, wrong passwords) of windows that began `COUNTER_HOURS` ago;
- guest links past their `expires_at` (7 days), for good, with their clicks; and the daily API
  call counters of workspace quotas, once their day is over;

and folds rollup keys that visitors choose (Referer hosts, browser, OS, city) beyond each
bucket's `ROLLUP_KEYS` biggest into `other` (buckets of the last `CAP_DAYS` days); and forgets
the days of sets of links (folders, tags, searches) cached more than `SET_DAYS_KEEP` ago, so a
set asked about once does not stay cached for ever.

Deletes go a chunk per transaction, so redirects' click writes never wait long for them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import anyio

from clypt_mcp.core.clicks import PURGE_CHUNK, fold_old_rollups, purge_clicks
from clypt_mcp.store.base import Store, to_us

log = logging.getLogger(__name__)

IDEMPOTENCY_HOURS = 24
COUNTER_HOURS = 25  # longer than the longest rate-limit window (a day)
CAP_DAYS = 2  # rollup buckets this recent are capped each pass (older ones already were)
SET_DAYS_KEEP = 7 * 86400  # seconds a set's cached day is kept after it was cached


class Housekeeping:
    """Runs the passes until `close()`; `purged` counts rows deleted per kind."""

    def __init__(
        self,
        store: Store,
        click_retention_days: int | None = None,
        every: float = 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.click_retention_days = click_retention_days
        self.every = every
        self.clock = clock
        self.purged: Counter[str] = Counter()
        self._stop = anyio.Event()

    async def run(self) -> None:
        """Pass after pass until `close()`; a failed pass is logged and tried again later."""
        while not self._stop.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("housekeeping failed; trying again later")
            with anyio.move_on_after(self.every):
                await self._stop.wait()

    async def sweep(self) -> Counter[str]:
        """One pass; the rows it deleted, per kind."""
        now = self.clock()
        done: Counter[str] = Counter()
        if self.click_retention_days:
            cutoff = now - timedelta(days=self.click_retention_days)
            done["clicks"] = await purge_clicks(self.store, cutoff)
            done["rollup detail"] = await fold_old_rollups(self.store, cutoff)
        before = to_us(now - timedelta(hours=IDEMPOTENCY_HOURS)) or 0
        while (n := await self.store.purge_idempotency(before, PURGE_CHUNK)) > 0:
            done["idempotency"] += n
            if n < PURGE_CHUNK:
                break
        counters = int((now - timedelta(hours=COUNTER_HOURS)).timestamp())
        done["counters"] = await self.store.purge_request_counts(counters)
        now_us = to_us(now) or 0
        while (n := await self.store.team.purge_guests(now_us, PURGE_CHUNK)) > 0:
            done["guest links"] += n
            if n < PURGE_CHUNK:
                break
        done["usage counters"] = await self.store.team.purge_usage(counters - 86400)
        since = int((now - timedelta(days=CAP_DAYS)).timestamp()) // 86400 * 86400
        done["rollup keys"] = await self.store.cap_rollups(since)
        done["cached set days"] = await self.store.purge_set_days(SET_DAYS_KEEP)
        self.purged.update(done)
        if any(done.values()):
            log.info("housekeeping deleted %s", ", ".join(f"{n} {k}" for k, n in done.items()))
        return done

    def close(self) -> None:
        self._stop.set()
