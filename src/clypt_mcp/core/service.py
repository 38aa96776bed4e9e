"""ClyptService: one method per use case, each checking scope, then rules, then storing."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from clypt_mcp.core import analytics as analytics_rules
from clypt_mcp.core.clicks import purge_clicks as purge_raw_clicks
from clypt_mcp.core.codes import CodeGenerator, random_code
from clypt_mcp.core.idempotency import Idempotency
from clypt_mcp.core.passwords import hash_password_async
from clypt_mcp.core.urls import points_at
from clypt_mcp.errors import (
    AuthenticationError,
    ClyptError,
    CodeTakenError,
    ConflictError,
    Hint,
    InsufficientScopeError,
    InvalidInputError,
    KeyExpiredError,
    KeyRevokedError,
    NotFoundError,
    describe_validation_error,
)
from clypt_mcp.models import (
    MAX_ACTIVE_KEYS,
    MAX_BULK,
    Analytics,
    AnalyticsQuery,
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    BulkError,
    BulkResult,
    Deleted,
    Folder,
    FolderList,
    Link,
    LinkCreate,
    LinkPage,
    LinkQuery,
    LinkStatus,
    LinkUpdate,
    Principal,
    Scope,
    Tag,
    TagList,
    VariantOut,
    ascii_fold,
    expand_scopes,
    new_id,
    status_of,
    unavailable_because,
    utcnow,
)
from clypt_mcp.store.base import (
    SLOT,
    FolderRecord,
    KeyRecord,
    LinkFilter,
    LinkRecord,
    Store,
    TagRecord,
    folder_path,
    to_us,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
KEY_PREFIX = "clypt_"
KEY_TOUCH_EVERY = timedelta(minutes=1)
_GENERATE_ATTEMPTS = 8


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


class ClyptService:
    """The use cases of Clypt over a Store. Every method takes the caller's Principal."""

    def __init__(
        self,
        store: Store,
        base_url: str = "http://127.0.0.1:8080",
        clock: Clock = utcnow,
        codes: CodeGenerator = random_code,
        geoip_db: Path | None = None,
    ) -> None:
        self.store = store
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.codes = codes
        self.geoip_db = geoip_db  # CLYPT_GEOIP_DB, to tell whether cities are known
        # Called with a link's code whenever this service changes the link (or makes one with
        # that code): the redirects of this process forget what they cached of it at once.
        self.link_listeners: list[Callable[[str], None]] = []
        self.idempotency = Idempotency(store, clock)
        self._workspaces: set[str] = set()

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

    def to_link(self, rec: LinkRecord) -> Link:
        now = self.clock()
        return Link(
            id=rec.id,
            code=rec.code,
            short_url=f"{self.base_url}/{rec.code}",
            url=rec.url,
            title=rec.title,
            notes=rec.notes,
            tags=rec.tags,
            folder=rec.folder_path,
            folder_id=rec.folder_id,
            utm_source=rec.utm_source,
            utm_medium=rec.utm_medium,
            utm_campaign=rec.utm_campaign,
            utm_term=rec.utm_term,
            utm_content=rec.utm_content,
            starts_at=rec.starts_at,
            expires_at=rec.expires_at,
            max_clicks=rec.max_clicks,
            has_password=rec.password_hash is not None,
            variants=[VariantOut(**v) for v in rec.variants] if rec.variants else None,
            geo=rec.geo,
            devices=rec.devices,
            disabled=rec.disabled,
            status=link_status(rec, now),
            clicks=rec.clicks,
            last_clicked_at=rec.last_clicked_at,
            created_at=rec.created_at,
            updated_at=rec.updated_at,
            deleted_at=rec.deleted_at,
        )

    def _check_no_loop(self, *urls: str | None) -> None:
        for url in urls:
            if url and points_at(url, self.base_url):
                raise InvalidInputError(
                    Hint(
                        "url",
                        f"'{url}' points at this Clypt server's own short links, which would loop",
                        "give the final destination instead",
                    )
                )

    def _check_destinations(self, data: LinkCreate | LinkUpdate) -> None:
        urls = [data.url]
        urls += [v.url for v in data.variants or []]
        urls += list((data.geo or {}).values()) + list((data.devices or {}).values())
        self._check_no_loop(*urls)

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
        if link_id is not None:
            rec = await self.store.get_link(ws, link_id=link_id)
        if rec is None and (code or ref):
            rec = await self.store.get_link(ws, code=code or ref)
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

    # --- links ------------------------------------------------------------------------

    async def create_link(
        self, principal: Principal, data: LinkCreate, idempotency_key: str | None = None
    ) -> Link:
        """Make a short link.

        With `idempotency_key`, a retry of the same request answers the first link (see
        core.idempotency; REST's Idempotency-Key is the same key space).

        Raises: InsufficientScopeError, InvalidInputError, CodeTakenError, ConflictError.
        """
        self.require(principal, Scope.LINKS_WRITE)
        ws = await self._workspace(principal)
        link, _ = await self.idempotency.once(
            ws,
            idempotency_key,
            "create_link",
            data.model_dump(mode="json"),
            lambda: self._create_link(principal, ws, data),
            Link,
        )
        return link

    async def _create_link(self, principal: Principal, ws: str, data: LinkCreate) -> Link:
        self._check_destinations(data)
        folder_id, folder_names = await self._folder_target(principal, data.folder)
        now = self.clock()
        rec = LinkRecord(
            id=new_id("lnk"),
            workspace_id=ws,
            code=data.code or "",
            url=data.url,
            created_at=now,
            updated_at=now,
            title=data.title,
            notes=data.notes,
            folder_id=folder_id,
            utm_source=data.utm_source,
            utm_medium=data.utm_medium,
            utm_campaign=data.utm_campaign,
            utm_term=data.utm_term,
            utm_content=data.utm_content,
            starts_at=data.starts_at,
            expires_at=data.expires_at,
            max_clicks=data.max_clicks,
            password_hash=await hash_password_async(data.password) if data.password else None,
            variants=[v.model_dump() for v in data.variants] if data.variants else None,
            geo=data.geo,
            devices={str(k): v for k, v in data.devices.items()} if data.devices else None,
        )
        for attempt in range(_GENERATE_ATTEMPTS):
            if data.code is None:
                rec.code = self.codes()
            try:
                await self.store.insert_link(rec, data.tags or [], None, folder_names)
                break
            except CodeTakenError:
                if data.code is not None or attempt == _GENERATE_ATTEMPTS - 1:
                    raise
        self._changed(rec.code)  # a 404 remembered for this code is forgotten
        return await self.get_link(principal, rec.id)

    async def get_link(self, principal: Principal, ref: str) -> Link:
        """Raises: NotFoundError."""
        self.require(principal, Scope.LINKS_READ)
        rec = await self._record(principal, ref)
        link = self.to_link(rec)
        if link.variants:  # each variant's clicks, all time
            flt = LinkFilter(workspace_id=principal.workspace_id, link_id=rec.id)
            end = (int(self.clock().timestamp()) // SLOT + 2) * SLOT  # past every click so far
            stats = await self.store.click_stats(flt, 0, end, False, 1)
            counts = {label: n for label, n, _ in stats.variants}
            for (label, _), variant in zip(variant_labels(rec), link.variants, strict=True):
                variant.clicks = counts.get(label, 0)
        return link

    async def list_links(self, principal: Principal, query: LinkQuery) -> LinkPage:
        """Raises: InvalidInputError for a cursor from another listing."""
        self.require(principal, Scope.LINKS_READ)
        ws = principal.workspace_id
        folder_ids = await self.folder_ids_under(principal, query.folder) if query.folder else None
        flt = LinkFilter(
            workspace_id=ws,
            query=query.query,
            tag=query.tag,
            folder_ids=folder_ids,
            status=query.status,
        )
        after = _decode_cursor(query.cursor, query.sort) if query.cursor else None
        records, total = await self.store.list_links(
            flt, query.sort, query.limit + 1, after, self.clock()
        )
        more = len(records) > query.limit
        records = records[: query.limit]
        cursor = _encode_cursor(records[-1], query.sort) if more and records else None
        return LinkPage(links=[self.to_link(r) for r in records], next_cursor=cursor, total=total)

    async def update_link(self, principal: Principal, ref: str, data: LinkUpdate) -> Link:
        """Change the fields present in `data`; `None` clears.

        Raises: NotFoundError, InvalidInputError, CodeTakenError.
        """
        self.require(principal, Scope.LINKS_WRITE)
        rec = await self._record(principal, ref)
        self._check_destinations(data)
        given = data.model_fields_set
        changes: dict[str, Any] = {}
        simple = (
            "url",
            "code",
            "title",
            "notes",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "starts_at",
            "expires_at",
            "max_clicks",
            "geo",
            "disabled",
        )
        for name in simple:
            if name in given:
                changes[name] = getattr(data, name)
        if "disabled" in changes and changes["disabled"] is None:
            changes["disabled"] = False
        if "devices" in given:
            changes["devices"] = (
                {str(k): v for k, v in data.devices.items()} if data.devices else None
            )
        if "variants" in given:
            changes["variants"] = [v.model_dump() for v in data.variants] if data.variants else None
        if "password" in given:
            changes["password_hash"] = (
                await hash_password_async(data.password) if data.password else None
            )
        folder_names = None
        if "folder" in given:
            changes["folder_id"], folder_names = await self._folder_target(principal, data.folder)
        if "deleted" in given:
            changes["deleted_at"] = self.clock() if data.deleted else None
        starts = changes.get("starts_at", rec.starts_at)
        expires = changes.get("expires_at", rec.expires_at)
        if starts and expires and expires <= starts:
            raise InvalidInputError("expires_at must be after starts_at", field="expires_at")
        tags = (data.tags or []) if "tags" in given else None
        if changes or tags is not None:
            changes["updated_at"] = self.clock()
            await self.store.update_link(
                principal.workspace_id, rec.id, changes, tags, folder_names
            )
            self._changed(rec.code, changes.get("code"))
        return await self.get_link(principal, rec.id)

    async def delete_link(self, principal: Principal, ref: str, permanent: bool = False) -> Deleted:
        """Soft delete (restorable, redirects answer 410) or, with links:delete, remove for good.

        Raises: NotFoundError, InsufficientScopeError.
        """
        self.require(principal, Scope.LINKS_DELETE if permanent else Scope.LINKS_WRITE)
        rec = await self._record(principal, ref)
        if permanent:
            await self.store.delete_link(principal.workspace_id, rec.id)
        elif rec.deleted_at is None:
            now = self.clock()
            await self.store.update_link(
                principal.workspace_id, rec.id, {"deleted_at": now, "updated_at": now}, None
            )
        self._changed(rec.code)
        return Deleted(deleted=True, permanent=permanent)

    async def bulk_create_links(
        self,
        principal: Principal,
        items: list[dict[str, Any]],
        idempotency_key: str | None = None,
        progress: Callable[[int, int], Any] | None = None,
    ) -> BulkResult:
        """Create up to 100 links; a bad item is reported by index and never stops the rest.

        Raises: InvalidInputError when the list is empty or too long.
        """
        self.require(principal, Scope.LINKS_WRITE)
        if not 1 <= len(items) <= MAX_BULK:
            raise InvalidInputError(
                f"links: give 1 to {MAX_BULK} items (got {len(items)}) — split larger batches",
                field="links",
            )
        ws = await self._workspace(principal)
        result, _ = await self.idempotency.once(
            ws,
            idempotency_key,
            "bulk_create_links",
            {"links": items},
            lambda: self._bulk_create(principal, items, progress),
            BulkResult,
        )
        return result

    async def _bulk_create(
        self,
        principal: Principal,
        items: list[dict[str, Any]],
        progress: Callable[[int, int], Any] | None,
    ) -> BulkResult:
        created: list[Link] = []
        errors: list[BulkError] = []
        for index, item in enumerate(items):
            try:
                data = LinkCreate.model_validate(item)
                created.append(await self.create_link(principal, data))
            except ValidationError as exc:
                errors.append(
                    BulkError(
                        index=index,
                        error=describe_validation_error(exc),
                        code=InvalidInputError.code,
                    )
                )
            except ClyptError as exc:
                errors.append(BulkError(index=index, error=exc.message, code=exc.code))
            if progress is not None:
                await progress(index + 1, len(items))
        return BulkResult(created=created, errors=errors)

    # --- analytics --------------------------------------------------------------------

    async def get_analytics(self, principal: Principal, query: AnalyticsQuery) -> Analytics:
        """Clicks for one link, a tag, a folder or the whole workspace.

        Raises: NotFoundError, InvalidInputError.
        """
        self.require(principal, Scope.ANALYTICS_READ)
        tz = analytics_rules.zone(query.timezone)
        ws = principal.workspace_id
        flt = LinkFilter(workspace_id=ws, tag=query.tag)
        if query.link:
            flt.link_id = (await self._record(principal, query.link)).id
        if query.folder:
            flt.folder_ids = await self.folder_ids_under(principal, query.folder)
        now = self.clock()
        first = None
        if query.period == "all" and query.start is None:
            probe = await self.store.click_stats(flt, 0, SLOT, True, 1, want_first=True)
            if probe.first_bucket is not None:
                first = datetime.fromtimestamp(probe.first_bucket, UTC)
        try:
            start, end = analytics_rules.window(query, now, first)
            interval = query.interval or analytics_rules.auto_interval(start, end)
            start, end = analytics_rules.snap(start, end, interval, tz)
            analytics_rules.buckets(start, end, interval, tz)  # rejects too many points early
            unit = analytics_rules.series_unit(start, end, tz, interval)
            analytics_rules.previous_window(start, end, interval, tz)
        except (OverflowError, ValueError):  # dates at the end of the calendar
            raise InvalidInputError(
                "start/end: the period runs past the last date that can be counted — give an "
                "end before 9999-01-01",
                field="end",
            ) from None
        stats = await self.store.click_stats(
            flt, int(start.timestamp()), int(end.timestamp()), query.include_bots, query.top, unit
        )
        prev_start, prev_end = analytics_rules.previous_window(start, end, interval, tz)
        prev = await self.store.click_stats(
            flt, int(prev_start.timestamp()), int(prev_end.timestamp()), query.include_bots, 1,
            analytics_rules.series_unit(prev_start, prev_end, tz, interval),
        )  # fmt: skip
        variants = None
        if flt.link_id is not None:
            variants = variant_labels(await self._record(principal, flt.link_id))
        return analytics_rules.build(
            query, stats, (start, end), interval, tz, (prev, prev_start, prev_end),
            cities=self.geo_cities, variants=variants,
        )  # fmt: skip

    async def count_raw_clicks(
        self, principal: Principal, link_id: str | None, since_ts: int | None
    ) -> int:
        """How many raw clicks `raw_clicks` would page through."""
        self.require(principal, Scope.ANALYTICS_READ)
        return await self.store.count_clicks(principal.workspace_id, link_id, since_ts)

    async def raw_clicks(
        self,
        principal: Principal,
        link_id: str | None,
        since_ts: int | None,
        after: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        """One page of raw clicks (oldest first) after the click id `after`."""
        self.require(principal, Scope.ANALYTICS_READ)
        return await self.store.click_page(principal.workspace_id, link_id, since_ts, after, limit)

    async def purge_clicks(self, before: datetime) -> int:
        """An admin act (CLI): drop raw clicks older than `before`; analytics stay."""
        return await purge_raw_clicks(self.store, before)

    # --- tags -------------------------------------------------------------------------

    async def list_tags(self, principal: Principal) -> TagList:
        self.require(principal, Scope.TAGS_READ)
        records = await self.store.list_tags(principal.workspace_id)
        return TagList(tags=[_tag(r) for r in records])

    async def _tag(self, principal: Principal, ref: str) -> TagRecord:
        for rec in await self.store.list_tags(principal.workspace_id):
            if rec.id == ref or ascii_fold(rec.name) == ascii_fold(ref.strip()):
                return rec
        raise NotFoundError(Hint(None, f"no tag '{ref}'", "list tags with {list_tags}"), tag=ref)

    async def get_tag(self, principal: Principal, ref: str) -> Tag:
        """One tag with its link count, by id or name. Raises: NotFoundError."""
        self.require(principal, Scope.TAGS_READ)
        return _tag(await self._tag(principal, ref))

    async def create_tag(self, principal: Principal, name: str, color: str | None = None) -> Tag:
        """Raises: TagTakenError."""
        self.require(principal, Scope.TAGS_WRITE)
        ws = await self._workspace(principal)
        rec = TagRecord(id=new_id("tag"), name=name, color=color, created_at=self.clock())
        await self.store.create_tag(ws, rec)
        return _tag(rec)

    async def update_tag(
        self,
        principal: Principal,
        ref: str,
        name: str | None,
        color: str | None = None,
        clear_color: bool = False,
    ) -> Tag:
        """Rename a tag or change its color. Raises: NotFoundError, TagTakenError."""
        self.require(principal, Scope.TAGS_WRITE)
        rec = await self._tag(principal, ref)
        new_color = None if clear_color else (color or rec.color)
        await self.store.update_tag(principal.workspace_id, rec.id, name or rec.name, new_color)
        return _tag(await self._tag(principal, rec.id))

    async def delete_tag(self, principal: Principal, ref: str) -> Tag:
        """Remove a tag from every link and delete it. Raises: NotFoundError."""
        self.require(principal, Scope.TAGS_WRITE)
        rec = await self._tag(principal, ref)
        await self.store.delete_tag(principal.workspace_id, rec.id)
        return _tag(rec)

    # --- folders ----------------------------------------------------------------------

    async def list_folders(self, principal: Principal) -> FolderList:
        self.require(principal, Scope.FOLDERS_READ)
        records = await self.store.list_folders(principal.workspace_id)
        parents = {f.id: (f.parent_id, f.name) for f in records}
        folders = [_folder(r, folder_path(r.id, parents)) for r in records]
        return FolderList(folders=sorted(folders, key=lambda f: f.path.lower()))

    async def get_folder(self, principal: Principal, ref: str) -> Folder:
        """Raises: NotFoundError."""
        self.require(principal, Scope.FOLDERS_READ)
        for folder in (await self.list_folders(principal)).folders:
            if folder.id == ref or ascii_fold(folder.path) == ascii_fold(ref.strip("/")):
                return folder
        raise NotFoundError(
            Hint(None, f"no folder '{ref}'", "list folders with {list_folders}"), folder=ref
        )

    async def create_folder(self, principal: Principal, name: str, parent: str | None) -> Folder:
        """Raises: NotFoundError for an unknown parent, ConflictError for a taken name."""
        self.require(principal, Scope.FOLDERS_WRITE)
        ws = await self._workspace(principal)
        parent_id = (await self.get_folder(principal, parent)).id if parent else None
        rec = FolderRecord(
            id=new_id("fld"), name=name, parent_id=parent_id, created_at=self.clock()
        )
        await self.store.create_folder(ws, rec)
        return await self.get_folder(principal, rec.id)

    async def update_folder(
        self,
        principal: Principal,
        ref: str,
        name: str | None = None,
        parent: str | None = None,
        to_root: bool = False,
    ) -> Folder:
        """Rename and/or move a folder. Raises: NotFoundError, ConflictError, InvalidInputError."""
        self.require(principal, Scope.FOLDERS_WRITE)
        folder = await self.get_folder(principal, ref)
        parent_id = folder.parent_id
        if to_root:
            parent_id = None
        elif parent is not None:
            target = await self.get_folder(principal, parent)
            inside = ascii_fold(target.path).startswith(ascii_fold(folder.path) + "/")
            if target.id == folder.id or inside:
                raise InvalidInputError(
                    f"parent: cannot move '{folder.path}' into itself or its own subfolder",
                    field="parent",
                )
            parent_id = target.id
        await self.store.update_folder(
            principal.workspace_id, folder.id, name or folder.name, parent_id
        )
        return await self.get_folder(principal, folder.id)

    async def delete_folder(self, principal: Principal, ref: str) -> Folder:
        """Delete a folder; its links and subfolders move to its parent. Raises: NotFoundError."""
        self.require(principal, Scope.FOLDERS_WRITE)
        folder = await self.get_folder(principal, ref)
        await self.store.delete_folder(principal.workspace_id, folder.id)
        return folder

    # --- api keys ---------------------------------------------------------------------

    async def create_api_key(self, workspace_id: str, data: ApiKeyCreate) -> ApiKeyCreated:
        """An admin act (CLI, or a key with keys:write): returns the secret once.

        Raises: ConflictError when the workspace has 10 active keys.
        """
        await self._workspace(Principal(workspace_id=workspace_id))
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        if data.expires_at is not None and data.expires_at <= now:
            raise InvalidInputError("expires_at must be in the future", field="expires_at")
        rec = KeyRecord(
            id=new_id("key"),
            workspace_id=workspace_id,
            name=data.name,
            prefix=secret[:12],
            scopes=sorted({s.value for s in data.scopes}),
            created_at=now,
            expires_at=data.expires_at,
        )
        if not await self.store.insert_key(rec, _key_hash(secret), MAX_ACTIVE_KEYS):
            raise ConflictError(
                f"workspace '{workspace_id}' already has {MAX_ACTIVE_KEYS} active keys — "
                "revoke one first",
                field="keys",
            )
        return ApiKeyCreated(**_api_key(rec).model_dump(), secret=secret)

    async def list_api_keys(self, workspace_id: str | None) -> list[ApiKey]:
        now = self.clock()
        return [
            _api_key(r).model_copy(
                update={"expired": r.expires_at is not None and r.expires_at <= now}
            )
            for r in await self.store.list_keys(workspace_id)
        ]

    async def revoke_api_key(self, workspace_id: str | None, key_id: str) -> None:
        """Raises: NotFoundError."""
        if not await self.store.revoke_key(workspace_id, key_id, self.clock()):
            raise NotFoundError(f"no active key '{key_id}'", key=key_id)

    async def authenticate(self, secret: str) -> Principal:
        """The Principal of an API key. Raises: AuthenticationError."""
        rec = (
            await self.store.find_key(_key_hash(secret)) if secret.startswith(KEY_PREFIX) else None
        )
        now = self.clock()
        if rec is None:
            raise AuthenticationError("unknown API key — check Authorization: Bearer")
        if rec.revoked_at is not None:
            raise KeyRevokedError(
                "this API key was revoked — ask the workspace's admin for a new one "
                "(`clypt-mcp keys create`)"
            )
        if rec.expires_at is not None and rec.expires_at <= now:
            raise KeyExpiredError(
                f"this API key expired at {rec.expires_at.isoformat()} — create a new one "
                "(`clypt-mcp keys create --expires …`, or POST /api/v1/keys with another key)"
            )
        if rec.last_used_at is None or now - rec.last_used_at > KEY_TOUCH_EVERY:
            await self.store.touch_key(rec.id, now)  # at most a write a minute per key
        scopes = frozenset(Scope(s) for s in rec.scopes)
        return Principal(workspace_id=rec.workspace_id, key_id=rec.id, scopes=scopes)


def _key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _api_key(rec: KeyRecord) -> ApiKey:
    return ApiKey(
        id=rec.id,
        name=rec.name,
        prefix=rec.prefix,
        scopes=[Scope(s) for s in rec.scopes],
        workspace=rec.workspace_id,
        created_at=rec.created_at,
        expires_at=rec.expires_at,
        revoked_at=rec.revoked_at,
        last_used_at=rec.last_used_at,
    )


def _tag(rec: TagRecord) -> Tag:
    return Tag(
        id=rec.id, name=rec.name, color=rec.color, links=rec.links, created_at=rec.created_at
    )


def _folder(rec: FolderRecord, path: str) -> Folder:
    return Folder(
        id=rec.id,
        name=rec.name,
        path=path,
        parent_id=rec.parent_id,
        links=rec.links,
        created_at=rec.created_at,
    )


def _sort_value(rec: LinkRecord, sort: str) -> Any:
    field = sort.lstrip("-")
    if field == "created_at":
        return to_us(rec.created_at)
    return getattr(rec, field)


def _encode_cursor(rec: LinkRecord, sort: str) -> str:
    raw = json.dumps([sort, _sort_value(rec, sort), rec.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        got_sort, value, link_id = json.loads(base64.urlsafe_b64decode(padded))
        ok = isinstance(link_id, str) and isinstance(value, (int, str))
    except (ValueError, TypeError):
        ok, got_sort = False, None
    if not ok:
        raise InvalidInputError(
            Hint(
                "cursor",
                "not a cursor from {list_links}",
                "pass {next_cursor} unchanged, or omit it",
            )
        )
    if got_sort != sort:
        raise InvalidInputError(
            Hint(
                "cursor",
                f"it belongs to sort '{got_sort}', not '{sort}'",
                "keep the same sort while paging",
            )
        )
    return value, link_id


def variant_labels(rec: LinkRecord) -> list[tuple[str, str]]:
    """`(label, url)` of a link's variants as clicks record them (`#n` when unlabelled)."""
    return [
        (str(v.get("label") or f"#{i + 1}"), str(v["url"]))
        for i, v in enumerate(rec.variants or [])
    ]
