"""The service's shared part: construction, scopes, the link and folder lookups every area uses."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import ValidationError

from clypt_mcp.core import abtests
from clypt_mcp.core.codes import CodeGenerator, random_code
from clypt_mcp.core.domains import host_name
from clypt_mcp.core.idempotency import Idempotency
from clypt_mcp.core.urls import browser_host, points_at
from clypt_mcp.errors import (
    ConflictError,
    Hint,
    InsufficientScopeError,
    InvalidInputError,
    NotFoundError,
    describe_validation_error,
)
from clypt_mcp.models import (
    PLAIN_LINK_FIELDS,
    AbTestResult,
    Link,
    LinkCreate,
    LinkStatus,
    LinkUpdate,
    Principal,
    Scope,
    ascii_fold,
    expand_scopes,
    status_of,
    unavailable_because,
    utcnow,
)
from clypt_mcp.store.base import FolderRecord, LinkRecord, Store, folder_path

if TYPE_CHECKING:
    from clypt_mcp.core.jobs import JobRunner

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def invalid(exc: ValidationError, prefix: str = "") -> InvalidInputError:
    return InvalidInputError(describe_validation_error(exc, prefix))


def link_status(rec: LinkRecord, now: datetime) -> LinkStatus:
    """The status of `rec` at `now` (models.unavailable_because decides it)."""
    return status_of(
        unavailable_because(
            deleted=rec.deleted_at is not None,
            disabled=rec.disabled,
            starts_at=rec.starts_at,
            expires_at=rec.expires_at,
            max_clicks=rec.max_clicks,
            redirects=rec.redirects,
            now=now,
        )
    )


def missing_scope_message(principal: Principal, scope: Scope) -> str:
    """What to change to get `scope`: CLYPT_SCOPES for a server without a key, else the key."""
    if principal.key_id is None:
        return (
            f"this needs the '{scope.value}' scope, which CLYPT_SCOPES does not include — add "
            f"{scope.value} to CLYPT_SCOPES in this MCP server's settings (the env block of the "
            "assistant's configuration) and restart it"
        )
    return (
        f"this needs the '{scope.value}' scope, which this API key does not have — use a key "
        f"that has it (clypt-mcp keys create --scopes …,{scope.value}); for an assistant in "
        "remote mode that key is CLYPT_API_KEY"
    )


class ServiceBase:
    """What every area of the service shares: the store, the clock, the scope check, the
    workspace, and turning a stored link into the answer."""

    def __init__(
        self,
        store: Store,
        base_url: str = "http://127.0.0.1:8080",
        clock: Clock = utcnow,
        codes: CodeGenerator = random_code,
        geoip_db: Path | None = None,
        dns_resolver: str | None = None,
    ) -> None:
        self.store = store
        self.dns_resolver = dns_resolver  # CLYPT_DNS_RESOLVER, for domain verification
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.codes = codes
        self.geoip_db = geoip_db  # CLYPT_GEOIP_DB, to tell whether cities are known
        # Called with a link's code whenever this service changes the link (or makes one with
        # that code): the redirects of this process forget what they cached of it at once.
        self.link_listeners: list[Callable[[str], None]] = []
        # Called with a domain's name when it starts or stops serving (verified, removed): the
        # redirects of this process forget what they cached of that host at once.
        self.domain_listeners: list[Callable[[str], None]] = []
        self.idempotency = Idempotency(store, clock)
        self._workspaces: set[str] = set()
        from clypt_mcp.core.webhooks import Webhooks

        # Webhook endpoints (#16); `allow_loopback` follows CLYPT_DEV_ALLOW_LOOPBACK (set by
        # whoever builds the service from settings).
        self.webhooks = Webhooks(store, clock, self.to_link, self._record, self.folder_ids_under)

    def _changed(self, *codes: str | None) -> None:
        for code in codes:
            if code:
                for listener in self.link_listeners:
                    listener(code)

    @property
    def geo_cities(self) -> bool:
        """Whether the configured GeoIP data has cities (a MaxMind City database)."""
        from clypt_mcp.core.visitors import geoip_has_cities

        return geoip_has_cities(self.geoip_db)

    @functools.cached_property
    def jobs(self) -> JobRunner:
        """Exports and imports as jobs (core/jobs.py), one runner per service."""
        from clypt_mcp.core.jobs import JobRunner

        return JobRunner(self)  # type: ignore[arg-type]  # ClyptService is every area at once

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    def require(principal: Principal, scope: Scope) -> None:
        """Raises: InsufficientScopeError when the principal lacks `scope`."""
        if scope not in expand_scopes(principal.scopes):
            raise InsufficientScopeError(missing_scope_message(principal, scope), scope=scope.value)

    async def _workspace(self, principal: Principal) -> str:
        ws = principal.workspace_id
        if ws not in self._workspaces:
            await self.store.ensure_workspace(ws, self.clock())
            self._workspaces.add(ws)
        return ws

    @property
    def base_host(self) -> str:
        """CLYPT_BASE_URL's host name: the domain of links that name none."""
        return host_name(urlsplit(self.base_url).netloc)

    def short_url_of(self, rec: LinkRecord) -> str:
        """`CLYPT_BASE_URL/<code>` on the server's own host, else `<scheme>://<domain>/<code>`."""
        if rec.domain_id is None or not rec.domain_name:
            return f"{self.base_url}/{rec.code}"
        scheme = urlsplit(self.base_url).scheme or "https"
        return f"{scheme}://{rec.domain_name}/{rec.code}"

    def domain_of(self, rec: LinkRecord) -> str:
        return rec.domain_name if rec.domain_id and rec.domain_name else self.base_host

    def to_link(self, rec: LinkRecord) -> Link:
        now = self.clock()
        return Link(
            id=rec.id,
            code=rec.code,
            short_url=self.short_url_of(rec),
            url=rec.url,
            tags=rec.tags,
            folder=rec.folder_path,
            folder_id=rec.folder_id,
            has_password=rec.password_hash is not None,
            devices=rec.devices,
            disabled=rec.disabled,
            track_conversions=rec.track_conversions,
            ab_test=abtests.stored_result(rec.ab_test) if rec.ab_test else None,
            **{name: getattr(rec, name) for name in PLAIN_LINK_FIELDS},
            status=link_status(rec, now),
            clicks=rec.clicks,
            imported_clicks=rec.imported_clicks or None,
            last_clicked_at=rec.last_clicked_at,
            created_at=rec.created_at,
            updated_at=rec.updated_at,
            deleted_at=rec.deleted_at,
            domain=self.domain_of(rec),
        )

    async def _ab_result(self, rec: LinkRecord) -> AbTestResult:
        """The link's A/B test result, evaluated now (#15); a decision it makes reaches this
        process's redirects at once (others' within their link cache's time)."""
        result, decided = await abtests.evaluate(
            self.store, rec, abtests.labels_of(rec.variants), self.clock()
        )
        if decided:
            self._changed(rec.code)
        return result

    def _check_no_loop(self, *urls: str | None) -> None:
        for url in urls:
            if url and points_at(url, self.base_url):
                raise _loop(url)

    async def _check_destinations(self, data: LinkCreate | LinkUpdate) -> None:
        """No destination points back at this server: its own host (in any spelling a browser
        resolves to it), or a verified custom domain it serves on the scheme's own port.

        Raises: InvalidInputError."""
        urls = [data.url]
        urls += [v.url for v in data.variants or []]
        urls += list((data.geo or {}).values()) + list((data.devices or {}).values())
        self._check_no_loop(*urls)
        given = [u for u in urls if u]
        if not given or not await self.store.any_verified_domain():
            return
        for url in given:
            parts = urlsplit(url)
            if parts.port not in (None, {"http": 80, "https": 443}.get(parts.scheme.lower())):
                continue
            rec = await self.store.get_domain(None, name=browser_host(parts.hostname or ""))
            if rec is not None and rec.verified_at is not None:
                raise _loop(url)

    def code_from_ref(self, ref: str) -> tuple[str | None, str | None]:
        """(id, code) named by a link reference: an id, a code or a full short URL."""
        ref = ref.strip()
        if ref.lower().startswith(("http://", "https://")):
            path = urlsplit(ref).path.strip("/")
            return None, path or None
        if ref.startswith("lnk_"):
            return ref, None
        return None, ref

    async def _record(self, principal: Principal, ref: str) -> LinkRecord:
        ws = principal.workspace_id
        link_id, code = self.code_from_ref(ref)
        rec = None
        host = host_name(urlsplit(ref.strip()).netloc) if "://" in ref else ""
        if host and code:  # a short URL: its host says which domain the code is on
            domain = None if host == self.base_host else await self.store.get_domain(ws, name=host)
            if domain is not None or host == self.base_host:
                rec = await self.store.link_on_domain(domain.id if domain else None, code)
                rec = rec if rec is not None and rec.workspace_id == ws else None
        else:
            if link_id is not None:
                rec = await self.store.get_link(ws, link_id=link_id)
            if rec is None and (code or ref):
                found = await self.store.links_with_code(ws, code or ref)
                if len(found) > 1:  # the same code on several of the workspace's domains
                    urls = ", ".join(self.short_url_of(r) for r in found)
                    raise ConflictError(
                        f"link: '{ref}' is a code on several domains ({urls}) — name the link "
                        "by its short URL or its id",
                        field="link",
                    )
                rec = found[0] if found else None
        if rec is None:
            raise NotFoundError(
                Hint(
                    None,
                    f"no link '{ref}' in this workspace",
                    "check the code, or find it with {list_links}",
                ),
                link=ref,
            )
        return rec

    async def _folder_target(
        self, principal: Principal, ref: str | None
    ) -> tuple[str | None, list[str] | None]:
        """(folder id, None) for an existing folder; (None, names) for a path to create."""
        if ref is None:
            return None, None
        folders = await self.store.list_folders(principal.workspace_id)
        found = self._find_folder(folders, ref)
        if found is not None:
            return found.id, None
        if ref.startswith("fld_") and "/" not in ref:
            raise NotFoundError(
                Hint(
                    "folder",
                    f"no folder with id '{ref}'",
                    "use a path like 'Marketing/2026' or an existing id from {list_folders}",
                )
            )
        return None, ref.split("/")

    async def folder_ids_under(self, principal: Principal, ref: str) -> list[str]:
        """The folder named by `ref` (path or id) and all its subfolders."""
        folders = await self.store.list_folders(principal.workspace_id)
        root = self._find_folder(folders, ref)
        if root is None:
            return []
        children: dict[str | None, list[str]] = {}
        for f in folders:
            children.setdefault(f.parent_id, []).append(f.id)
        out, todo = [], [root.id]
        while todo:
            current = todo.pop()
            out.append(current)
            todo.extend(children.get(current, []))
        return out

    @staticmethod
    def _find_folder(folders: list[FolderRecord], ref: str) -> FolderRecord | None:
        parents = {f.id: (f.parent_id, f.name) for f in folders}
        wanted = ascii_fold(ref.strip("/"))
        for f in folders:
            if f.id == ref or ascii_fold(folder_path(f.id, parents)) == wanted:
                return f
        return None


def variant_labels(rec: LinkRecord) -> list[tuple[str, str]]:
    """`(label, url)` of a link's variants as clicks record them (`#n` when unlabelled)."""
    return [
        (str(v.get("label") or f"#{i + 1}"), str(v["url"]))
        for i, v in enumerate(rec.variants or [])
    ]


def _loop(url: str) -> InvalidInputError:
    return InvalidInputError(
        Hint(
            "url",
            f"'{url}' points at this Clypt server's own short links, which would loop",
            "give the final destination instead",
        )
    )
