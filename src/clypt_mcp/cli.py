"""The `clypt-mcp` command: MCP over stdio by default, plus HTTP transports and admin tasks."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from pydantic import ValidationError

from clypt_mcp import __version__

if TYPE_CHECKING:
    from clypt_mcp.config import Settings
    from clypt_mcp.core.service import ClyptService

log = logging.getLogger("clypt_mcp")


BASE_CHECK_DELAY = 1.0  # seconds after start before the stdio server checks CLYPT_BASE_URL


class ConfigError(Exception):
    """A bad setting or flag: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="clypt-mcp",
        description="Clypt: a link shortener for AI assistants. Without a command, serves MCP "
        "over stdio.",
    )
    p.add_argument("--version", action="version", version=f"clypt-mcp {__version__}")
    p.add_argument("--transport", choices=["stdio", "sse", "streamable-http"], default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP transports: address to bind")
    p.add_argument("--port", type=int, default=8000, help="HTTP transports: port")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = p.add_subparsers(dest="command")
    sub.add_parser("stdio", help="MCP over stdio (the default)")
    serve = sub.add_parser(
        "serve", help="redirects, the REST API, /llms.txt and MCP at /mcp and /sse, over HTTP"
    )
    serve.add_argument("--host", dest="serve_host", default="127.0.0.1")
    serve.add_argument("--port", dest="serve_port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command")
    create = keys.add_parser("create", help="create a key; prints the secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--workspace", default=None)
    create.add_argument("--scopes", default=None, help="comma list; default: all but keys:write")
    create.add_argument("--expires", default=None, help="ISO 8601 date or time")
    create.add_argument(
        "--allow-ip", default=None, metavar="CIDR[,CIDR]",
        help="the key works only from these addresses or networks (after trusted proxies)",
    )  # fmt: skip
    listing = keys.add_parser("list", help="list keys")
    listing.add_argument("--workspace", default=None)
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")
    domains = sub.add_parser("domains", help="custom domains of workspaces").add_subparsers(
        dest="domains_command"
    )
    dom_add = domains.add_parser("add", help="add a domain to a workspace")
    dom_add.add_argument("domain", help="host name, e.g. go.example.com")
    dom_add.add_argument("--workspace", default=None)
    dom_add.add_argument(
        "--verified", action="store_true", help="skip the DNS TXT check (the operator vouches)"
    )
    dom_list = domains.add_parser("list", help="list a workspace's domains")
    dom_list.add_argument("--workspace", default=None)
    spaces = sub.add_parser("workspaces", help="workspace limits").add_subparsers(
        dest="workspaces_command"
    )
    limits = spaces.add_parser(
        "set-limits",
        help="set a workspace's limits (a limit not given is kept; 'none' removes it)",
    )
    limits.add_argument("workspace")
    for flag in ("--links", "--clicks-per-month", "--api-calls-per-day"):
        limits.add_argument(flag, type=_limit, default=_KEEP, metavar="N")
    spaces.add_parser("show-limits", help="print a workspace's limits and use").add_argument(
        "workspace"
    )
    apps = sub.add_parser("apps", help="apps connected by OAuth").add_subparsers(
        dest="apps_command"
    )
    apps_list = apps.add_parser("list", help="list connected apps")
    apps_list.add_argument("--workspace", default=None)
    apps_revoke = apps.add_parser("revoke", help="disconnect an app by id")
    apps_revoke.add_argument("id")
    signin = sub.add_parser(
        "signin-link", help="print a one-time link that signs a browser in (10 minutes)"
    )
    signin.add_argument("--workspace", default=None)
    signin.add_argument("--scopes", default=None, help="comma list; default: all but keys:write")
    links = sub.add_parser("links", help="import or export links").add_subparsers(
        dest="links_command"
    )
    imp = links.add_parser(
        "import",
        help="create links from a CSV file (header row: url, …), or from another shortener's "
        "export with --from",
    )
    imp.add_argument("file")
    imp.add_argument(
        "--from", dest="source", default=None,
        choices=["bitly", "dub", "shortio", "rebrandly", "shlink", "yourls", "kutt"],
        help="read FILE as that service's own export (codes, titles, tags, times, click totals "
        "kept)",
    )  # fmt: skip
    imp.add_argument(
        "--verify", action="store_true",
        help="with --from: HEAD each old short URL (no redirects followed) and compare where "
        "it leads with the new link",
    )  # fmt: skip
    imp.add_argument(
        "--verify-sample", type=int, default=None, metavar="N",
        help="with --from: verify N rows chosen at random",
    )  # fmt: skip
    exp = links.add_parser("export", help="write every link to standard output")
    exp.add_argument("--format", choices=["csv", "json"], default="csv")
    clicks = sub.add_parser("clicks", help="export or purge raw clicks").add_subparsers(
        dest="clicks_command"
    )
    cexp = clicks.add_parser("export", help="write raw clicks to standard output")
    cexp.add_argument("--link", default=None, help="only this link (code, id or short URL)")
    cexp.add_argument("--since", default=None, help="ISO 8601 date or time")
    cexp.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    purge = clicks.add_parser(
        "purge",
        help="delete raw clicks older than N days, in every workspace (analytics keep them)",
    )
    purge.add_argument(
        "--older-than", type=int, default=None, metavar="DAYS",
        help="days of raw clicks to keep (default: CLYPT_CLICK_RETENTION_DAYS)",
    )  # fmt: skip
    db = sub.add_parser("db", help="database tasks").add_subparsers(dest="db_command")
    db.add_parser("migrate", help="apply pending migrations and print the schema version")
    copy = db.add_parser("copy", help="copy this store into another (e.g. SQLite to PostgreSQL)")
    copy.add_argument("--to", required=True, help="postgresql://… or sqlite:///path")
    copy.add_argument("--force", action="store_true", help="replace a target that has data")
    backup = db.add_parser("backup", help="copy the live SQLite store into FILE")
    backup.add_argument("file")
    restore = db.add_parser("restore", help="replace the SQLite store with a backup FILE")
    restore.add_argument("file")
    restore.add_argument("--force", action="store_true", help="overwrite a store that has data")
    return p


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment; a bad variable becomes one ConfigError line."""
    from clypt_mcp.config import Settings

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False, include_input=False):
            name = "CLYPT_" + "_".join(str(p) for p in err["loc"]).upper() if err["loc"] else ""
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {msg}" if name else msg)
        raise ConfigError("; ".join(lines)) from None


def _embedded_only(settings: Settings) -> None:
    if settings.api_url is not None:
        raise ConfigError(
            "CLYPT_API_URL: this command works on a local store; unset CLYPT_API_URL and "
            "CLYPT_API_KEY, or run it on the Clypt server"
        )


def _sqlite_only(settings: Settings, what: str) -> None:
    from clypt_mcp.store import is_postgres_url

    if is_postgres_url(settings.database_url):
        raise ConfigError(
            f"CLYPT_DATABASE_URL: {what} works on the SQLite store; for PostgreSQL use "
            "pg_dump and pg_restore (see docs/deploy.md)"
        )


@asynccontextmanager
async def open_service(settings: Settings) -> AsyncIterator[ClyptService]:
    """The service on its store (SQLite, or PostgreSQL by URL), opened (and migrated) and closed."""
    from clypt_mcp.core.service import ClyptService
    from clypt_mcp.store import open_store

    _embedded_only(settings)
    store = open_store(settings.database_url, settings.sqlite_path())
    await store.open()
    try:
        yield ClyptService(
            store,
            base_url=settings.base,
            geoip_db=settings.geoip_db,
            dns_resolver=settings.dns_resolver,
        )
    finally:
        await store.close()


async def _serve_mcp(settings: Settings, transport: str, host: str, port: int, level: str) -> None:
    from clypt_mcp.backends.local import LocalBackend
    from clypt_mcp.models import Principal
    from clypt_mcp.tools.server import build_server

    if transport != "stdio" and not _is_loopback(host):
        raise ConfigError(
            f"--host {host}: the MCP server alone binds to loopback only (127.0.0.1, ::1, "
            "localhost); to reach it from other machines use `clypt-mcp serve` with API keys"
        )
    if settings.api_url is not None:
        await _serve_remote(settings, transport, host, port, level)
        return
    async with open_service(settings) as service, anyio.create_task_group() as tg:
        principal = Principal(workspace_id=settings.workspace, scopes=settings.scopes)
        backend = LocalBackend(service, principal)
        mcp = build_server(lambda: backend, settings.scopes, log_level=level, lazy=True)
        if transport == "stdio":
            tg.start_soon(_check_base_url, service, settings.workspace)
        await _run_transport(mcp, transport, host, port)
        tg.cancel_scope.cancel()


async def _check_base_url(service: ClyptService, workspace: str) -> None:
    """Warn once, in the log, when no `serve` on this database answers at CLYPT_BASE_URL.

    Waits until the client has had its handshake, then asks from a worker thread: the stdio
    server's start stays as fast as without the check.
    """
    from clypt_mcp.models import LinkQuery, Principal
    from clypt_mcp.reach import warn_if_unserved

    await anyio.sleep(BASE_CHECK_DELAY)
    code = None
    try:  # any link of this database tells a `serve` on it from one on another
        page = await service.list_links(Principal(workspace_id=workspace), LinkQuery(limit=1))
        code = page.links[0].code if page.links else None
    except Exception:  # the check is advice; a store hiccup here must not stop the server
        log.debug("base URL check: no link to look up", exc_info=True)
    await anyio.to_thread.run_sync(warn_if_unserved, service.base_url, code, abandon_on_cancel=True)


async def _run_transport(mcp: Any, transport: str, host: str, port: int) -> None:
    if transport == "stdio":
        await mcp.run_stdio_async()
    elif transport == "sse":
        await mcp.run_sse_async(host=host, port=port)
    else:
        await mcp.run_streamable_http_async(host=host, port=port)


async def _serve_remote(
    settings: Settings, transport: str, host: str, port: int, level: str
) -> None:
    """Remote mode: the same MCP server over a Clypt REST API; no database is opened."""
    import httpx2  # noqa: TID251 - the CLI checks a remote server before serving it

    from clypt_mcp.backends.remote import RemoteBackend
    from clypt_mcp.errors import ClyptError
    from clypt_mcp.models import ALL_SCOPES
    from clypt_mcp.tools.server import build_server

    assert settings.api_url is not None and settings.api_key is not None
    timeout = settings.api_timeout
    async with httpx2.AsyncClient(base_url=str(settings.api_url), timeout=timeout) as http:
        backend = RemoteBackend(http, settings.api_key.get_secret_value(), timeout=timeout)
        try:
            scopes = await backend.connect()
        except ClyptError as exc:
            # Stay up: every tool call will say what is wrong until the API answers again.
            log.warning("remote mode: %s; offering every tool until the API answers", exc.message)
            scopes = ALL_SCOPES
        hint = "use a CLYPT_API_KEY that has it (the Clypt server's `keys create --scopes`)"
        mcp = build_server(lambda: backend, scopes, log_level=level, lazy=True, scope_hint=hint)
        await _run_transport(mcp, transport, host, port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_KEEP: Any = object()


def _limit(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number or 'none'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is below 0")
    return value


async def _workspaces(settings: Settings, args: argparse.Namespace) -> None:
    from clypt_mcp.models import Principal

    async with open_service(settings) as service:
        if args.workspaces_command == "set-limits":
            now = (await service.limits(args.workspace)).model_dump()
            for name in ("links", "clicks_per_month", "api_calls_per_day"):
                if getattr(args, name) is not _KEEP:
                    now[name] = getattr(args, name)
            from clypt_mcp.models import WorkspaceLimits

            done = await service.set_limits(args.workspace, WorkspaceLimits(**now))
            shown = ", ".join(
                f"{k.replace('_', '-')} {'none' if v is None else v}"
                for k, v in done.model_dump().items()
            )
            _err(f"workspace '{args.workspace}': {shown}\n")
        elif args.workspaces_command == "show-limits":
            found = await service.usage(Principal(workspace_id=args.workspace))
            _out(found.model_dump_json(indent=2) + "\n")
        else:
            raise ConfigError("workspaces: choose set-limits or show-limits")


async def _keys(settings: Settings, args: argparse.Namespace) -> None:
    from pydantic import ValidationError

    from clypt_mcp.models import ApiKeyCreate, parse_scopes

    async with open_service(settings) as service:
        if args.keys_command == "create":
            fields: dict[str, Any] = {"name": args.name}
            if args.scopes:
                try:
                    fields["scopes"] = sorted(parse_scopes(args.scopes))
                except ValueError as exc:
                    raise ConfigError(f"--scopes: {exc}") from None
            if args.expires:
                try:
                    fields["expires_at"] = datetime.fromisoformat(args.expires)
                except ValueError:
                    raise ConfigError("--expires: use an ISO 8601 date like 2027-01-31") from None
            if args.allow_ip is not None:
                fields["allow_ips"] = [p for p in args.allow_ip.split(",") if p.strip()]
            workspace = args.workspace or settings.workspace
            try:
                data = ApiKeyCreate(**fields)
            except ValidationError as exc:
                bad = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
                raise ConfigError(f"--allow-ip: {bad}" if args.allow_ip else bad) from None
            created = await service.create_api_key(workspace, data)
            _out(f"{created.secret}\n")
            _err(
                f"key {created.id} ({created.name}) for workspace '{workspace}', scopes "
                f"{','.join(created.scopes)}. Store it now: it is not shown again.\n"
            )
        elif args.keys_command == "list":
            for key in await service.list_api_keys(args.workspace):
                state = "revoked" if key.revoked_at else "expired" if key.expired else "active"
                expires = key.expires_at.isoformat() if key.expires_at else "never"
                where = ",".join(key.allow_ips) if key.allow_ips else "any"
                _out(
                    f"{key.id}\t{key.prefix}…\t{key.workspace}\t{key.name}\t{state}\t"
                    f"{','.join(key.scopes)}\texpires {expires}\tfrom {where}\n"
                )
        elif args.keys_command == "revoke":
            await service.revoke_api_key(None, args.id)
            _err(f"revoked {args.id}\n")
        else:
            raise ConfigError("keys: choose create, list or revoke")


async def _domains(settings: Settings, args: argparse.Namespace) -> None:
    from clypt_mcp.models import Principal

    workspace = args.workspace or settings.workspace
    async with open_service(settings) as service:
        if args.domains_command == "add":
            added = await service.operator_add_domain(workspace, args.domain, args.verified)
            _out(f"{added.id}\t{added.domain}\n")
            if added.verified:
                _err(f"domain {added.domain} added to workspace '{workspace}', verified\n")
            else:
                _err(
                    f"domain {added.domain} added to workspace '{workspace}', pending: publish "
                    f"a TXT record {added.txt_name} with the value {added.txt_value}, then "
                    "verify it (manage_domains or POST /api/v1/domains/{id}/verify)\n"
                )
        elif args.domains_command == "list":
            listing = await service.list_domains(Principal(workspace_id=workspace))
            for d in listing.domains:
                state = "verified" if d.verified else "pending"
                mark = "\tdefault" if d.default else ""
                _out(f"{d.id}\t{d.domain}\t{state}\t{d.links} links{mark}\n")
            _err(f"default domain of '{workspace}': {listing.default_domain}\n")
        else:
            raise ConfigError("domains: choose add or list")


async def _apps(settings: Settings, args: argparse.Namespace) -> None:
    import time

    from clypt_mcp.models import ALL_SCOPES, Scope, parse_scopes

    async with open_service(settings) as service:
        store = service.store.oauth
        if args.command == "signin-link":
            from clypt_mcp.http.oauth import create_signin_link

            scopes = ALL_SCOPES - {Scope.KEYS_WRITE}
            if args.scopes:
                try:
                    scopes = parse_scopes(args.scopes)
                except ValueError as exc:
                    raise ConfigError(f"--scopes: {exc}") from None
            workspace = args.workspace or settings.workspace
            names = sorted(s.value for s in scopes)
            _out(await create_signin_link(store, settings.base, workspace, names) + "\n")
            _err(
                f"sign-in link for workspace '{workspace}', scopes {','.join(names)}: valid 10 "
                "minutes, once.\n"
            )
        elif args.apps_command == "list":
            for grant in await store.list_grants(args.workspace):
                state = "revoked" if grant.revoked_at is not None else "active"
                _out(
                    f"{grant.id}\t{grant.client_name}\t{grant.workspace_id}\t"
                    f"{','.join(grant.scopes)}\t{state}\n"
                )
        elif args.apps_command == "revoke":
            if not await store.revoke_grant(None, args.id, int(time.time() * 1_000_000)):
                raise ConfigError(f"apps revoke: no active app '{args.id}' (see `apps list`)")
            _err(f"revoked {args.id}\n")
        else:
            raise ConfigError("apps: choose list or revoke")


async def _report_reserved(store: Any) -> None:
    """Name the links whose codes are now paths of the server: they keep redirecting where the
    server does not answer that path itself, but should be renamed."""
    from clypt_mcp.models import RESERVED_CODES

    for workspace, code in await store.links_with_codes(sorted(RESERVED_CODES)):
        _err(
            f"link '{code}' in workspace '{workspace}' holds a code this server now reserves: "
            "rename it (update_link or PATCH /api/v1/links/{id} with a new code)\n"
        )


async def _db(settings: Settings, args: argparse.Namespace) -> None:
    from clypt_mcp.store import is_postgres_url, open_store
    from clypt_mcp.store.sqlite import SqliteStore, backup_file

    _embedded_only(settings)
    path = settings.sqlite_path()
    if args.db_command == "migrate":
        store = open_store(settings.database_url, path)
        await store.open()
        try:
            where = "PostgreSQL" if is_postgres_url(settings.database_url) else str(path)
            _err(f"{where}: schema version {await store.schema_version()}\n")
            await _report_reserved(store)
        finally:
            await store.close()
        return
    if args.db_command == "copy":
        await _copy(settings, args.to, args.force)
        return
    _sqlite_only(settings, f"db {args.db_command}")
    if args.db_command == "backup":
        if not path.exists():
            raise ConfigError(f"CLYPT_DATABASE_URL: no store at {path} to back up")
        store = SqliteStore(path)
        await store.open()  # brings an old file up to date first
        await store.close()
        pages = await anyio.to_thread.run_sync(backup_file, path, Path(args.file))
        _err(f"backed up {path} to {args.file} ({pages} pages)\n")
    elif args.db_command == "restore":
        await _restore(path, Path(args.file), args.force)
    else:
        raise ConfigError("db: choose migrate, backup or restore")


async def _copy(settings: Settings, target_url: str, force: bool) -> None:
    from clypt_mcp.store import open_store
    from clypt_mcp.store.copy import copy_store

    if not target_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError("--to: give postgresql://user:pw@host/db or sqlite:///path")
    target_path = Path(target_url.removeprefix("sqlite:///")).expanduser()
    source = open_store(settings.database_url, settings.sqlite_path())
    target = open_store(target_url, target_path)
    await source.open()
    try:
        await target.open()
        try:
            bars: dict[str, Callable[[int, int], None]] = {}

            def progress(table: str, done: int, total: int) -> None:
                bars.setdefault(table, _progress(table))(done, total)

            copied = await copy_store(source, target, progress, force=force)
        finally:
            await target.close()
    finally:
        await source.close()
    _err("copied " + ", ".join(f"{n} {table}" for table, n in copied.items()) + "\n")


async def _restore(path: Path, source: Path, force: bool) -> None:
    from clypt_mcp.store.sqlite import SqliteStore, backup_file

    if not source.is_file():
        raise ConfigError(f"{source}: no such backup file")
    if path.exists() and not force:
        store = SqliteStore(path)
        await store.open()
        try:
            links = await store.count_links()
        finally:
            await store.close()
        if links:
            raise ConfigError(
                f"{path} already holds {links} links — pass --force to replace it with {source}"
            )
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    await anyio.to_thread.run_sync(backup_file, source, path)
    store = SqliteStore(path)
    await store.open()  # applies migrations newer than the backup
    await store.close()
    _err(f"restored {source} into {path}\n")


def _progress(label: str) -> Callable[[int, int], None]:
    """A progress bar on stderr when it is a terminal; otherwise nothing."""
    if not sys.stderr.isatty():
        return lambda done, total: None
    from tqdm import tqdm

    bar = tqdm(desc=label, unit="", file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


async def _data(settings: Settings, args: argparse.Namespace) -> None:
    from clypt_mcp.core import exports
    from clypt_mcp.models import Principal

    principal = Principal(workspace_id=settings.workspace)
    async with open_service(settings) as service:
        if args.command == "clicks" and args.clicks_command == "export":
            since = None
            if args.since:
                try:
                    since = datetime.fromisoformat(args.since)
                except ValueError:
                    raise ConfigError("--since: use an ISO 8601 date like 2026-11-01") from None
                if since.tzinfo is None:
                    since = since.replace(tzinfo=UTC)
            n = await exports.export_clicks(
                service, principal, sys.stdout, args.format, args.link, since,
                _progress("clicks"),
            )  # fmt: skip
            _err(f"exported {n} clicks\n")
        elif args.command == "clicks" and args.clicks_command == "purge":
            days = args.older_than
            if days is None:
                days = settings.click_retention_days
            if days is None or not 1 <= days <= 36500:
                raise ConfigError(
                    "--older-than: give a number of days from 1 to 36500 "
                    "(or set CLYPT_CLICK_RETENTION_DAYS)"
                )
            before = datetime.now(UTC) - timedelta(days=days)
            n = await service.purge_clicks(before)
            _err(
                f"deleted {n} rows of raw clicks and first-visit marks older than "
                f"{before:%Y-%m-%d %H:%M} UTC; analytics are unchanged\n"
            )
        elif args.command == "links" and args.links_command == "export":
            n = await exports.export_links(
                service, principal, sys.stdout, args.format, _progress("links")
            )
            _err(f"exported {n} links\n")
        elif args.command == "links" and args.links_command == "import" and args.source:
            await _import_from(service, principal, settings, args)
        elif args.command == "links" and args.links_command == "import":
            if args.verify or args.verify_sample is not None:
                raise ConfigError("--verify and --verify-sample go with --from SERVICE")
            try:
                with open(args.file, encoding="utf-8-sig", newline="") as handle:
                    rows = exports.read_link_rows(iter(handle))
            except OSError as exc:
                raise ConfigError(f"{args.file}: {exc.strerror}") from None
            created, errors = await exports.import_links(
                service, principal, rows, _progress("import")
            )
            for row, error in errors:
                _err(f"{args.file}:{row}: {error}\n")
            _err(f"imported {created} of {len(rows)} links\n")
            if errors:
                raise SystemExit(1)
        else:
            raise ConfigError(f"{args.command}: choose a subcommand (see --help)")


async def _import_from(
    service: ClyptService, principal: Any, settings: Settings, args: argparse.Namespace
) -> None:
    """`links import --from SERVICE FILE [--verify | --verify-sample N]`: one line per row
    not created (skipped or invalid, with why), a summary, then one line per verified row."""
    from clypt_mcp.core import importers
    from clypt_mcp.verify import verify

    if args.verify_sample is not None and args.verify_sample < 1:
        raise ConfigError("--verify-sample: give a number of rows, 1 or more")
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{args.file}: {getattr(exc, 'strerror', None) or exc}") from None
    rows = importers.parse(args.source, text)
    bar = _progress("import")

    async def progress(done: int, total: int | None) -> None:
        bar(done, total or done)

    report = await importers.run(service, principal, rows, progress)
    for skipped in report.skipped:
        old = skipped.existing
        _out(f"row {skipped.row} {skipped.code}: code taken by {old.short_url} -> {old.url}\n")
    for bad in report.invalid:
        _out(f"row {bad.row} {bad.code or '-'}: {bad.reason}\n")
    _err(
        f"{args.source}: {len(report.created)} created, {len(report.skipped)} skipped, "
        f"{len(report.invalid)} invalid, of {len(rows)} rows\n"
    )
    mismatched = False
    if args.verify or args.verify_sample is not None:
        by_row = {row.number: row for row in rows}
        items = []
        for made in report.created:
            link = await service.get_link(principal, made.code)
            items.append((made.row, made.code, by_row[made.row].short_url, link.url))
        for skipped in report.skipped:
            items.append((skipped.row, skipped.code, by_row[skipped.row].short_url,
                          skipped.existing.url))  # fmt: skip
        checkable = [(r, c, old, new) for r, c, old, new in items if old]
        for row_number, code, _, _ in items:
            if not by_row[row_number].short_url:
                _out(f"row {row_number} {code}: error the export has no old short URL\n")
        checks = await verify(sorted(checkable), settings.dev_allow_loopback, args.verify_sample)
        for check in checks:
            _out(check.line() + "\n")
        mismatched = any(c.verdict != "match" for c in checks)
    if report.invalid or mismatched:
        raise SystemExit(1)


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    from clypt_mcp.http.serve import ServeError, run_server

    level = {"DEBUG": "debug", "INFO": "info"}.get(args.log_level, "warning")
    origin = f"http://{args.serve_host}:{args.serve_port}"
    _err(f"clypt-mcp: serving {origin} (short links, /api/v1, /llms.txt, MCP at /mcp and /sse)\n")
    try:
        run_server(settings, args.serve_host, args.serve_port, args.workers, log_level=level)
    except ServeError as exc:
        raise ConfigError(str(exc)) from None


def _out(text: str) -> None:
    sys.stdout.write(text)


def _err(text: str) -> None:
    sys.stderr.write(text)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `clypt-mcp` and `python -m clypt_mcp`."""
    from clypt_mcp.errors import ClyptError

    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    from clypt_mcp import logredact

    logredact.install()
    try:
        settings = load_settings()
        if args.command == "serve":
            _serve(settings, args)
        elif args.command == "keys":
            anyio.run(_keys, settings, args)
        elif args.command == "domains":
            anyio.run(_domains, settings, args)
        elif args.command == "workspaces":
            anyio.run(_workspaces, settings, args)
        elif args.command in ("apps", "signin-link"):
            anyio.run(_apps, settings, args)
        elif args.command == "db":
            anyio.run(_db, settings, args)
        elif args.command in ("links", "clicks"):
            anyio.run(_data, settings, args)
        else:
            anyio.run(_serve_mcp, settings, args.transport, args.host, args.port, args.log_level)
    except ConfigError as exc:
        _err(f"clypt-mcp: {exc}\n")
        raise SystemExit(2) from None
    except ClyptError as exc:
        _err(f"clypt-mcp: {exc.message}\n")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:  # a last line of defence: one line, never a traceback
        log.debug("unexpected error", exc_info=True)
        _err(f"clypt-mcp: unexpected error: {type(exc).__name__}: {exc}\n")
        raise SystemExit(1) from None
