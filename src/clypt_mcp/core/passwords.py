"""Password hashing for protected links: scrypt from the standard library (a memory-hard KDF).

Each scrypt call takes ~16 MiB and tens of milliseconds of a core. `hash_password_async` and
`check_password` run it in `POOL`: a few worker threads (one less than the cores, at least
one) and a short queue. A call that finds the queue full is refused at once with `BusyError`
(503 with `Retry-After`) rather than waiting: a burst of guesses or of bulk creates then costs
a bounded amount of memory and leaves the event loop, and so redirects, alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from clypt_mcp.errors import BusyError

_N, _R, _P = 2**14, 8, 1
MAX_PASSWORD = 1024  # longer tries are wrong without being hashed
T = TypeVar("T")


def hash_password(password: str) -> str:
    """A self-describing scrypt hash: `scrypt$N$r$p$salt$hash` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(["scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; compared in constant time."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


class WorkerPool:
    """`workers` threads for CPU-heavy calls, and at most `queue` calls waiting for one."""

    def __init__(self, workers: int, queue: int, retry_after: int = 2) -> None:
        self.workers = workers
        self.queue = queue
        self.retry_after = retry_after
        self.limiter = anyio.CapacityLimiter(workers)
        self.in_flight = 0

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """`func(*args)` in a worker thread.

        Raises:
            BusyError: every worker is busy and the queue is full; nothing ran.
        """
        if self.in_flight >= self.workers + self.queue:
            raise BusyError(
                f"too many password checks at once — retry after {self.retry_after} s",
                retry_after=self.retry_after,
            )
        self.in_flight += 1
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)
        finally:
            self.in_flight -= 1


def _default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


POOL = WorkerPool(workers=_default_workers(), queue=64)


async def hash_password_async(password: str) -> str:
    """`hash_password` in `POOL`.

    Raises:
        BusyError: the pool's queue is full.
    """
    return await POOL.run(hash_password, password)


async def check_password(password: str, stored: str) -> bool:
    """`verify_password` in `POOL`; a try over `MAX_PASSWORD` characters is wrong at once.

    Raises:
        BusyError: the pool's queue is full; the password was not checked.
    """
    if len(password) > MAX_PASSWORD:
        return False
    return await POOL.run(verify_password, password, stored)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
