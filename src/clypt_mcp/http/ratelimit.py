"""Per-key request limits in fixed windows: counted in memory (one process on SQLite) or in the
store (PostgreSQL, or several `serve` workers), where every process shares the counters.

Both answer the same `Verdict` for the same count, so the X-RateLimit-* headers, the 429 and
its Retry-After do not depend on where the counting happens. Windows are aligned to the Unix
epoch (a minute window starts on the minute), so processes on different machines agree on
them as far as their clocks do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from clypt_mcp.store.base import Store

WINDOWS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # unix time the window ends
    retry_after: int  # seconds, when not allowed

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


def parse_limit(text: str) -> tuple[int, int]:
    """`(requests, window seconds)` of `1000/minute`, `50/second`, `50000/hour` or `N/day`."""
    count, _, unit = text.partition("/")
    return int(count), WINDOWS[unit]


class Limiter(Protocol):
    """What the REST endpoints ask before running a keyed request."""

    limit: int
    window: int
    clock: Callable[[], float]  # Unix time; windows are aligned to it

    async def check(self, key: str) -> Verdict:
        """Count one request of `key`; whether it may run, and the numbers for the headers.

        Raises: UnavailableError when shared counters cannot be reached.
        """


class RateLimiter:
    """`limit` requests per `window` seconds for each key, counted in this process."""

    def __init__(self, limit: int, window: int, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._counts: dict[str, tuple[int, int]] = {}

    @classmethod
    def parse(cls, text: str) -> RateLimiter:
        """From `1000/minute`, `50/second`, `50000/hour` or `N/day`."""
        return cls(*parse_limit(text))

    async def check(self, key: str) -> Verdict:
        return self.hit(key)

    def hit(self, key: str) -> Verdict:
        now = self.clock()
        window_start = int(now // self.window) * self.window
        start, used = self._counts.get(key, (window_start, 0))
        if start != window_start:
            start, used = window_start, 0
        reset = start + self.window
        if used >= self.limit:
            return Verdict(False, self.limit, 0, reset, max(1, math.ceil(reset - now)))
        used += 1
        self._counts[key] = (start, used)
        if len(self._counts) > 10_000:
            self._forget(window_start)
        return Verdict(True, self.limit, self.limit - used, reset, 0)

    def _forget(self, current: int) -> None:
        for key in [k for k, (s, _) in self._counts.items() if s != current]:
            del self._counts[key]


class StoreRateLimiter:
    """The same limits, counted in the store (`Store.count_request`): one atomic upsert per
    request, so every process and machine on the database draws on one budget per key.
    Requests over the limit are not counted, so a flood of them writes nothing."""

    def __init__(
        self, store: Store, limit: int, window: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.limit = limit
        self.window = window
        self.clock = clock

    @classmethod
    def parse(cls, store: Store, text: str) -> StoreRateLimiter:
        """From `1000/minute`, `50/second`, `50000/hour` or `N/day`."""
        return cls(store, *parse_limit(text))

    async def check(self, key: str) -> Verdict:
        now = self.clock()
        window_start = int(now // self.window) * self.window
        reset = window_start + self.window
        used = await self.store.count_request(key, window_start, self.limit)
        if used is None:
            return Verdict(False, self.limit, 0, reset, max(1, math.ceil(reset - now)))
        return Verdict(True, self.limit, self.limit - used, reset, 0)
