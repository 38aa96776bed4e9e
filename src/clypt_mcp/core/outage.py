"""When the database goes away: know it quickly, fail fast, and tell whoever asks.

`StoreHealth` is one process's view of its store: `up`, or `down` since a moment and why.
`GuardedStore` wraps the store `serve` runs on and is what the app is given:

- a call made while the store is down fails at once with `StoreUnavailableError` (503
  `store_unavailable`, `Retry-After`) instead of waiting for a connection that is not coming;
- a call that fails with an outage (the store's `UnavailableError`, a driver or OS error, a
  SQLite file that cannot be written: read-only, full disk) marks the store down and raises
  `StoreUnavailableError`;
- calls on the request path have deadlines: link lookups, counters and writes
  `FAST_SECONDS`, reads `READ_SECONDS` (analytics can take a while); a lookup or write that
  misses its deadline marks the store down too. The click writer's batches have
  `WRITER_SECONDS` (a PostgreSQL pool waits 10 s for a connection that is not coming; the
  recorder spools the batch instead). Housekeeping purges have none (but are refused while
  the store is down); opening, closing and whole-store copies pass through untouched.

`StoreHealth.run()` probes the store with one small write (a counter row) every
`PROBE_UP_SECONDS` while it is up and nothing else wrote, and every `PROBE_DOWN_SECONDS` while it
is down; the first probe that succeeds marks it up again, so recovery needs no restart. A write
probe, not a read: a SQLite file on a full or read-only disk still answers reads.

`/healthz` reads `StoreHealth.describe()`; the click recorder spools clicks while the store is
down (`clypt_mcp.core.spool`), and the link cache answers redirects of links it saw recently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio

from clypt_mcp.errors import BusyError, ClyptError, StoreUnavailableError, UnavailableError
from clypt_mcp.store.base import Store

log = logging.getLogger(__name__)

FAST_SECONDS = 1.5  # link lookups, counters, writes on the request path
READ_SECONDS = 10.0  # listing and analytics reads
WRITER_SECONDS = 5.0  # a batch of clicks (the recorder spools it when this runs out)
PROBE_UP_SECONDS = 2.0  # while up, a probe when nothing wrote for this long
PROBE_DOWN_SECONDS = 1.0  # while down, a probe this often
PROBE_TIMEOUT = 1.5
RETRY_AFTER = 5  # seconds a refused request is told to wait
PROBE_KEY = "clypt:health-probe"

# The store's own lifecycle and whole-store copies: passed through untouched.
_BACKGROUND = frozenset(
    {"open", "close", "dump_table", "load_rows", "clear_all", "count_rows", "schema_version"}
)
# Housekeeping: refused while down (so a stop never waits on it), but no deadline.
_NO_DEADLINE = _BACKGROUND | {
    "purge_clicks",
    "cap_rollups",
    "purge_set_days",
    "purge_idempotency",
    "purge_request_counts",
}
_READ_PREFIXES = ("list_", "click_", "count_clicks", "count_links", "find_", "_run")
_FAST_READS = frozenset({"get_link", "visitor_secret", "get_idempotent", "find_key"})


def is_outage(exc: BaseException) -> bool:
    """True for an error that says the store cannot be used now (rather than a bug, or a
    request the store refused)."""
    if isinstance(exc, BusyError):
        return False  # our own password queue, not the store
    if isinstance(exc, UnavailableError | TimeoutError | OSError):
        return True
    module = type(exc).__module__
    if module == "sqlite3":  # read-only, full disk, I/O error, cannot open
        text = str(exc)
        return type(exc).__name__ == "OperationalError" or any(
            word in text for word in ("full", "readonly", "disk", "I/O")
        )
    if module.startswith(("psycopg", "psycopg_pool")):
        name = type(exc).__name__
        return name in {"OperationalError", "PoolTimeout", "PoolClosed", "InterfaceError"}
    return False


class StoreHealth:
    """Up or down, since when and why; `run()` probes (see the module doc)."""

    def __init__(
        self, store: Store, name: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store  # the store itself, not the guard: probes must reach it while down
        self.name = name  # "PostgreSQL at host:5432/db", "SQLite file /path"
        self.clock = clock
        self.down_since: float | None = None
        self.reason = ""
        self.last_ok = clock()
        self._recovered = anyio.Event()
        self._stop = anyio.Event()

    @property
    def up(self) -> bool:
        return self.down_since is None

    def mark_down(self, why: str) -> None:
        if self.down_since is None:
            self.down_since = self.clock()
            self.reason = why
            self._recovered = anyio.Event()
            log.warning("the store (%s) is unavailable: %s", self.name, why)

    def mark_up(self) -> None:
        self.last_ok = self.clock()
        if self.down_since is not None:
            log.warning(
                "the store (%s) is back after %.1f s", self.name, self.clock() - self.down_since
            )
            self.down_since = None
            self.reason = ""
            self._recovered.set()

    async def wait_up(self) -> None:
        if self.down_since is not None:
            await self._recovered.wait()

    def refuse(self) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the database ({self.name}) is unavailable — nothing was changed; try again in "
            f"{RETRY_AFTER} s (redirects of recent links keep working)",
            retry_after=RETRY_AFTER,
        )

    def describe(self) -> dict[str, Any]:
        """What /healthz says: `{"ok": true}`, or degraded with the store and why."""
        if self.down_since is None:
            return {"ok": True}
        return {
            "ok": False,
            "status": "degraded",
            "reason": f"store unavailable: {self.name}: {self.reason}",
            "downSeconds": round(self.clock() - self.down_since, 1),
            "redirects": "links seen recently still redirect; clicks are spooled to disk",
        }

    async def probe(self) -> bool:
        """One small write; marks the store up or down by its outcome."""
        now = int(time.time())
        try:
            with anyio.fail_after(PROBE_TIMEOUT):
                await self.store.count_request(PROBE_KEY, now - now % 60, 2**62)
        except Exception as exc:
            if not is_outage(exc):
                log.exception("the store's health probe failed")
            self.mark_down(_why(exc))
            return False
        self.mark_up()
        return True

    async def run(self) -> None:
        """Probe until `close()`."""
        while not self._stop.is_set():
            # While up, wake when the last success is PROBE_UP_SECONDS old, not on a fixed beat:
            # a beat that just missed it would leave an outage unseen for twice as long.
            if self.up:
                wait = max(0.05, self.last_ok + PROBE_UP_SECONDS - self.clock())
            else:
                wait = PROBE_DOWN_SECONDS
            with anyio.move_on_after(wait):
                await self._stop.wait()
            if self._stop.is_set():
                return
            if self.up and self.clock() - self.last_ok < PROBE_UP_SECONDS:
                continue  # something wrote a moment ago
            await self.probe()

    def close(self) -> None:
        self._stop.set()


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    if isinstance(exc, ClyptError):
        text = exc.message
        cause = exc.__cause__
        if cause is not None:
            text += f" ({type(cause).__name__}: {str(cause).strip().splitlines()[0][:200]})"
        return text
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0][:200] if first else ''}"


class GuardedStore:
    """The store behind `StoreHealth`: every coroutine method fails fast while the store is
    down and marks it down on an outage (module doc). Anything else passes through.

    `isinstance(guarded, SqliteStore)` holds as it does for the store inside (`__class__`),
    so code that picks SQL by the store's kind (OAuth, web sessions) works unchanged and its
    calls are guarded too.
    """

    def __init__(self, inner: Store, health: StoreHealth) -> None:
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "health", health)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self.inner)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr) or not _is_coroutine_function(attr):
            return attr
        wrapped = self._guard(name, attr)
        object.__setattr__(self, name, wrapped)  # made once per method
        return wrapped

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.inner, name, value)

    def _guard(
        self, name: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        health: StoreHealth = self.health
        if name in _BACKGROUND:
            return method
        deadline: float | None = None
        marks = True  # a missed deadline marks the store down
        if name in ("record_clicks", "record_spooled"):
            deadline = WRITER_SECONDS
        elif name not in _NO_DEADLINE:
            if name in _FAST_READS or not name.startswith(_READ_PREFIXES):
                deadline = FAST_SECONDS
            else:
                deadline, marks = READ_SECONDS, False
        write = not name.startswith(_READ_PREFIXES) and name not in _FAST_READS

        async def call(*args: Any, **kwargs: Any) -> Any:
            if health.down_since is not None:
                raise health.refuse()
            try:
                if deadline is None:
                    result = await method(*args, **kwargs)
                else:
                    with anyio.fail_after(deadline):
                        result = await method(*args, **kwargs)
            except TimeoutError as exc:
                if marks:
                    health.mark_down(f"{name} did not answer within {deadline:g} s")
                raise health.refuse() from exc
            except StoreUnavailableError:
                raise
            except Exception as exc:
                if not is_outage(exc):
                    raise
                health.mark_down(_why(exc))
                raise health.refuse() from exc
            if write:
                health.last_ok = health.clock()
            return result

        call.__name__ = name
        return call


def _is_coroutine_function(fn: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(fn)


def guarded(store: Store, health: StoreHealth) -> Store:
    """`store` behind `health`, typed as the store it stands for."""
    return cast(Store, GuardedStore(store, health))


def store_name(store: Store) -> str:
    """A name for messages, without credentials."""
    where = getattr(store, "where", None)
    kind = type(store).__name__
    if "Postgres" in kind:
        return f"PostgreSQL at {where}" if isinstance(where, str) else "PostgreSQL"
    path = getattr(store, "path", None)
    return f"SQLite file {path}" if path is not None else kind
