"""glibc malloc settings for a `serve` process (#20: RSS < 100 MB after a million redirects).

Two habits of glibc's malloc keep memory a long-running server has freed:

- each thread that allocates gets its own arena (up to eight per core), and an arena keeps the
  pages it once used, so the store's worker threads and the event loop hold several mostly
  empty heaps: `M_ARENA_MAX` caps them at `ARENAS`;
- blocks above the mmap threshold (128 KiB) are mapped and given back on free, but freeing one
  raises the threshold to its size (up to 32 MiB), after which blocks of that size (a batch of
  clicks, a large response, a request body) come from the heap, where the holes they leave are
  rarely returned. Setting `M_MMAP_THRESHOLD` and `M_TRIM_THRESHOLD` fixes both at 128 KiB and
  turns that adjustment off. Blocks above 128 KiB then cost an mmap and an munmap each, so
  nothing on the request path may ask for one: `serve`'s protocol reads each connection into
  one kept buffer of `clypt_mcp.http.limits.READ_BYTES` (asyncio's own reads allocate 256 KiB
  each, which took a tenth of the redirect throughput).

Measured with bench/redirect_memory.py: after ~200k redirects 96.9 MiB with the arenas capped
alone, 88.9 MiB with the thresholds fixed too (docs/benchmarks.md). `tune_malloc()` does nothing
where the C library is not glibc, and leaves alone any setting its `MALLOC_*` variable sets.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

ARENAS = 2
THRESHOLD = 128 * 1024

# glibc's malloc.h: option number, the environment variable that sets it, the value used here
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
SETTINGS = (
    (M_ARENA_MAX, "MALLOC_ARENA_MAX", ARENAS),
    (M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", THRESHOLD),
    (M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_", THRESHOLD),
)


def tune_malloc() -> list[str]:
    """Apply `SETTINGS` to this process's malloc; the names of those applied."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: musl has a mallopt that does nothing)
    except (OSError, AttributeError):
        return []
    done = []
    for option, variable, value in SETTINGS:
        if os.environ.get(variable):
            continue
        if libc.mallopt(option, value):
            done.append(variable)
    log.debug("malloc tuned: %s", ", ".join(done) or "nothing")
    return done
