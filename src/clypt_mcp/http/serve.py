"""`clypt-mcp serve`: the whole HTTP app on uvicorn, in one process or in several workers.

`run_server(settings, host, port, workers)` checks the settings, then blocks until SIGINT or
SIGTERM. On either signal uvicorn stops accepting connections, lets open requests finish (at most
`GRACEFUL_SECONDS`), then runs the app's lifespan shutdown, which writes every queued click
before the store closes: a clean stop loses no click.

The app runs on its store through `clypt_mcp.core.outage.GuardedStore`: when the database goes
away, redirects of recent links go on from memory, clicks go to a spool file on local disk
(`clypt_mcp.core.spool`, replayed once the store is back), writes fail fast with 503
`store_unavailable`, and /healthz says `degraded`. A stop during an outage spools the queue.

The store is the one `CLYPT_DATABASE_URL` names: a SQLite file, or a PostgreSQL database that
any number of `serve` processes on any number of machines share. Before uvicorn starts, the
store is opened once (migrations applied, the visitor-hash secret made), so a database that
cannot be reached stops the start with one line instead of failing in every worker.

With `workers > 1` uvicorn starts each worker from an import string, so every worker builds its
app with `app_from_env()`, from `Settings()` read from the environment; `run_server` first puts
the settings it was given into `CLYPT_*` variables, so flags that overrode the environment reach
the workers too. All workers share the store (one SQLite file in WAL mode, or PostgreSQL).
Rate-limit counters live in the store whenever more than one process may serve it (PostgreSQL,
or several workers); one process on SQLite counts in memory, which costs far less per request.

Uvicorn's own `X-Forwarded-For` handling is turned off: Clypt believes that header only from
`CLYPT_TRUSTED_PROXIES`, and only for click data.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from pydantic import SecretStr
from starlette.types import Message, Receive, Scope, Send

from clypt_mcp.config import Settings
from clypt_mcp.core import visitors
from clypt_mcp.core.outage import StoreHealth, guarded, store_name
from clypt_mcp.core.spool import DEFAULT_MAX_BYTES, ClickSpool, state_dir, store_tag
from clypt_mcp.errors import ClyptError
from clypt_mcp.http import memory
from clypt_mcp.http import workers as workers_mod
from clypt_mcp.http.app import ClyptApp, create_app
from clypt_mcp.store import is_postgres_url, open_store

log = logging.getLogger(__name__)

GRACEFUL_SECONDS = 30
# The click writer runs SQL in a worker thread. With CPython's default 5 ms switch interval the
# event loop, having let go of the GIL for a socket write, can wait that long to get it back
# from the writer; 1 ms keeps redirects flowing while a batch is written.
SWITCH_INTERVAL = 0.001


class ServeError(Exception):
    """Settings `serve` cannot start with; the message is one line naming the variable."""


def check_settings(settings: Settings) -> None:
    """Fail early, with one line, on what would otherwise fail in the first request.

    Opens the store once: applies pending migrations and makes the visitor-hash secret, so
    workers that start together find both ready.

    Raises:
        ServeError: remote mode, an unreadable `CLYPT_GEOIP_DB`, or a store that cannot be
            opened (PostgreSQL unreachable or not installed, a SQLite file that cannot be made).
    """
    if settings.api_url is not None:
        raise ServeError(
            "CLYPT_API_URL: `serve` runs on its own database; unset CLYPT_API_URL and CLYPT_API_KEY"
        )
    try:
        visitors.CountryLookup(settings.geoip_db).open()
    except visitors.GeoIPError as exc:
        raise ServeError(str(exc)) from None
    try:
        anyio.run(_prepare_store, settings)
    except ClyptError as exc:
        raise ServeError(f"CLYPT_DATABASE_URL: {exc.message}") from None
    except Exception as exc:  # sqlite3 and OS errors from opening a file; one line all the same
        log.debug("opening the store failed", exc_info=True)
        raise ServeError(f"CLYPT_DATABASE_URL: cannot open the store: {exc}") from None


async def _prepare_store(settings: Settings) -> None:
    store = open_store(settings.database_url, settings.sqlite_path())
    await store.open()
    try:
        await store.visitor_secret()
    finally:
        await store.close()


class ServedApp:
    """An ASGI app that opens the store in its lifespan, then serves `create_app(...)`.

    The app's own lifespan (click recorder, MCP session manager) runs inside; on shutdown it
    drains the click queue, then the store closes.
    """

    def __init__(self, settings: Settings, *, shared_limits: bool = False) -> None:
        self.settings = settings
        self.shared_limits = shared_limits or is_postgres_url(settings.database_url)
        self.app: ClyptApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await _starting(send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with AsyncExitStack() as stack:
            try:
                self.app = await stack.enter_async_context(self._running())
            except Exception as exc:
                log.error("could not start: %s", exc)
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            try:
                await stack.aclose()
            except Exception as exc:
                log.exception("shutdown failed")
                await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                return
        await send({"type": "lifespan.shutdown.complete"})

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[ClyptApp]:
        from clypt_mcp.core.service import ClyptService

        sys.setswitchinterval(SWITCH_INTERVAL)
        memory.tune_malloc()  # each worker process, before its threads make arenas
        store = open_store(self.settings.database_url, self.settings.sqlite_path())
        await store.open()
        try:
            await anyio.to_thread.run_sync(_warm_up)
            health = StoreHealth(store, store_name(store))
            safe = guarded(store, health)
            service = ClyptService(
                safe,
                base_url=self.settings.base,
                geoip_db=self.settings.geoip_db,
                dns_resolver=self.settings.dns_resolver,
            )
            app = create_app(
                service,
                self.settings,
                store=safe,
                shared_limits=self.shared_limits,
                health=health,
                spool=make_spool(self.settings),
            )
            async with app.main.router.lifespan_context(app.main):
                yield app
        finally:
            await store.close()


def make_spool(settings: Settings) -> ClickSpool:
    """The click spool for the store `settings` name, bounded by `CLYPT_SPOOL_MAX_MB`."""
    url = settings.database_url or f"sqlite:///{Path(settings.sqlite_path()).resolve()}"
    limit = DEFAULT_MAX_BYTES
    if text := os.environ.get("CLYPT_SPOOL_MAX_MB", "").strip():
        try:
            limit = max(1, int(text)) * 1024 * 1024
        except ValueError:
            log.warning("CLYPT_SPOOL_MAX_MB=%r is not a whole number: 100 MB it is", text)
    return ClickSpool(state_dir(), store_tag(url), limit)


def _warm_up() -> None:
    """Build the user-agent parser and load the country table before the first redirect."""
    visitors.warm_up()
    visitors.CountryLookup().country(ip_address("8.8.8.8"))


async def _starting(send: Send) -> None:
    message: Message = {
        "type": "http.response.start",
        "status": 503,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"retry-after", b"1")],
    }
    await send(message)
    await send({"type": "http.response.body", "body": b"starting up - try again in a moment\n"})


def app_from_env() -> ServedApp:
    """The app factory each worker calls (`uvicorn --factory clypt_mcp.http.serve:...`); only
    `workers > 1` uses it, so its rate-limit counters are shared through the store."""
    return ServedApp(Settings(), shared_limits=True)


def settings_env(settings: Settings) -> dict[str, str]:
    """`settings` as `CLYPT_*` variables that `Settings()` reads back to the same values."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
        elif isinstance(value, tuple | frozenset | set | list):
            text = ",".join(sorted(str(v) for v in value))
        else:
            text = str(value)
        env[f"CLYPT_{name.upper()}"] = text
    if "CLYPT_DATABASE_URL" not in env:
        env["CLYPT_DATABASE_URL"] = f"sqlite:///{settings.sqlite_path()}"
    return env


def uvicorn_options(host: str, port: int, log_level: str, access_log: bool) -> dict[str, Any]:
    """What `serve` and the benchmark pass to uvicorn alike, with the limits on what a client
    may send and how slowly (see `clypt_mcp.http.limits`)."""
    from clypt_mcp.http import limits

    return {
        "host": host,
        "port": port,
        "http": limits.GuardedH11Protocol,
        "lifespan": "on",
        "proxy_headers": False,
        "server_header": False,
        "access_log": access_log,
        "log_level": log_level,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
        "timeout_keep_alive": limits.KEEP_ALIVE_SECONDS,
        "limit_concurrency": limits.MAX_CONCURRENCY,
        "h11_max_incomplete_event_size": limits.MAX_HEADER_BYTES,
    }


def run_server(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    *,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve redirects, the REST API, /llms.txt and MCP until SIGINT or SIGTERM.

    Raises:
        ServeError: settings `serve` cannot start with (one line, naming the variable).
    """
    import uvicorn

    if not 1 <= workers <= 64:
        raise ServeError(f"--workers {workers}: must be between 1 and 64")
    if not 0 <= port <= 65535:
        raise ServeError(f"--port {port}: must be between 0 and 65535")
    memory.tune_malloc()  # before check_settings starts the first thread
    check_settings(settings)
    from clypt_mcp.http import limits

    limits.configure(settings.trusted_proxies)
    options = uvicorn_options(host, port, log_level.lower(), access_log)
    if workers == 1:
        uvicorn.run(ServedApp(settings), **options)
        return
    os.environ.update(settings_env(settings))
    if not workers_mod.balanced_listeners():
        uvicorn.run(f"{__name__}:app_from_env", factory=True, workers=workers, **options)
        return
    run_workers(
        uvicorn.Config(f"{__name__}:app_from_env", factory=True, workers=workers, **options)
    )


def run_workers(config: Any) -> None:
    """uvicorn's supervisor (restarts, health checks, signals) over workers that each listen
    on a socket of their own (`clypt_mcp.http.workers`)."""
    from uvicorn.supervisors import Multiprocess

    try:
        sock = workers_mod.hold_address(config.host, config.port)
    except OSError as exc:
        where = f"{config.host}:{config.port}"
        raise ServeError(f"--port {config.port}: cannot listen on {where}: {exc.strerror}") from exc
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on http://%s:%d with %d workers, one socket each (Press CTRL+C to quit)",
        shown, port, config.workers,
    )  # fmt: skip
    with sock, contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[sock]).run()
