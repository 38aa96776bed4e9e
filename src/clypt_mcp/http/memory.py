"""Fewer glibc malloc arenas in a `serve` process (#20: RSS < 100 MB after a million redirects).

glibc gives each thread that allocates its own arena (up to eight per core), and an arena keeps
the pages it once used. The store's worker threads and the event loop then hold several mostly
empty heaps. `limit_arenas()` caps them with `mallopt(M_ARENA_MAX)`, as `MALLOC_ARENA_MAX` would;
it does nothing where the C library is not glibc, or when `MALLOC_ARENA_MAX` is set already.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

ARENAS = 2
M_ARENA_MAX = -8  # glibc's malloc.h


def limit_arenas(count: int = ARENAS) -> bool:
    """Cap this process's malloc arenas at `count`; whether it was done."""
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: musl has a mallopt that does nothing)
        done = bool(libc.mallopt(M_ARENA_MAX, count))
    except (OSError, AttributeError):
        return False
    log.debug("malloc arenas capped at %d: %s", count, done)
    return done
