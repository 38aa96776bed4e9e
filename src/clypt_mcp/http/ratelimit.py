"""Per-key request limits in fixed windows (per process; shared counters come with PostgreSQL)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

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


class RateLimiter:
    """`limit` requests per `window` seconds for each key."""

    def __init__(self, limit: int, window: int, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._counts: dict[str, tuple[int, int]] = {}

    @classmethod
    def parse(cls, text: str) -> RateLimiter:
        """From `1000/minute`, `50/second`, `50000/hour` or `N/day`."""
        count, _, unit = text.partition("/")
        return cls(int(count), WINDOWS[unit])

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
