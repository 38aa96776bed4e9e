"""Links: create (once per idempotency key), read, list, change, delete, bulk create."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from clypt_mcp.core import abtests, quotas
from clypt_mcp.core.areas.base import variant_labels
from clypt_mcp.core.areas.domains import DomainsArea
from clypt_mcp.core.domains import host_name
from clypt_mcp.core.passwords import hash_password_async
from clypt_mcp.errors import (
    ClyptError,
    CodeTakenError,
    Hint,
    InvalidInputError,
    describe_validation_error,
)
from clypt_mcp.models import (
    MAX_BULK,
    PLAIN_LINK_FIELDS,
    BulkError,
    BulkResult,
    Deleted,
    Link,
    LinkCreate,
    LinkPage,
    LinkQuery,
    LinkUpdate,
    Principal,
    Scope,
    new_id,
    stored_value,
)
from clypt_mcp.store.base import SLOT, LinkFilter, LinkRecord, to_us

_GENERATE_ATTEMPTS = 8  # fresh random codes tried before giving up


class LinksArea(DomainsArea):
    """Links: create (once per idempotency key), read, list, change, delete, bulk create."""

    async def create_link(
        self,
        principal: Principal,
        data: LinkCreate,
        idempotency_key: str | None = None,
        *,
        created_at: datetime | None = None,
        imported_clicks: int = 0,
    ) -> Link:
        """Make a short link (an import keeps the old service's creation time and click
        total: `created_at`, `imported_clicks`).

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
            lambda: self._create_link(principal, ws, data, created_at, imported_clicks),
            Link,
        )
        return link

    async def _create_link(
        self,
        principal: Principal,
        ws: str,
        data: LinkCreate,
        created_at: datetime | None = None,
        imported_clicks: int = 0,
    ) -> Link:
        await self._check_destinations(data)
        await quotas.check_new_links(self.store, ws)
        folder_id, folder_names = await self._folder_target(principal, data.folder)
        domain_id = await self.link_domain(principal, data.domain)
        now = self.clock()
        rec = LinkRecord(
            id=new_id("lnk"),
            workspace_id=ws,
            code=data.code or "",
            url=data.url,
            created_at=created_at or now,
            updated_at=now,
            imported_clicks=imported_clicks,
            folder_id=folder_id,
            password_hash=await hash_password_async(data.password) if data.password else None,
            devices={str(k): v for k, v in data.devices.items()} if data.devices else None,
            **{name: stored_value(getattr(data, name)) for name in PLAIN_LINK_FIELDS},
            domain_id=domain_id,
            track_conversions=bool(data.track_conversions),
        )
        if data.ab_test is not None:
            if data.ab_test.winner is not None:
                raise InvalidInputError(
                    "ab_test.winner: a new link's test has not run yet — update_link ends a "
                    "running test with a winner",
                    field="ab_test.winner",
                )
            rec.ab_test = abtests.new_state(data.ab_test, now)
        abtests.check_link(rec.ab_test, rec.variants, rec.track_conversions)
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
        if rec.ab_test is not None:
            link.ab_test = await self._ab_result(rec)
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
        if query.domain is not None:
            flt.by_domain = True
            flt.domain_id = await self._list_domain(principal, query.domain)
        after = _decode_cursor(query.cursor, query.sort) if query.cursor else None
        records, total = await self.store.list_links(
            flt, query.sort, query.limit + 1, after, self.clock()
        )
        more = len(records) > query.limit
        records = records[: query.limit]
        cursor = _encode_cursor(records[-1], query.sort) if more and records else None
        return LinkPage(links=[self.to_link(r) for r in records], next_cursor=cursor, total=total)

    async def _list_domain(self, principal: Principal, name: str) -> str | None:
        """The domain id to list links of; a name that is not the workspace's lists none."""
        if host_name(name) == self.base_host:
            return None
        found = await self.store.get_domain(principal.workspace_id, name=host_name(name))
        return found.id if found is not None else "-"  # no link has that id

    async def update_link(self, principal: Principal, ref: str, data: LinkUpdate) -> Link:
        """Change the fields present in `data`; `None` clears.

        Raises: NotFoundError, InvalidInputError, CodeTakenError.
        """
        self.require(principal, Scope.LINKS_WRITE)
        rec = await self._record(principal, ref)
        changes, folder_names = await self._update_changes(principal, data)
        given = data.model_fields_set
        if changes.get("domain_id", rec.domain_id) == rec.domain_id:
            changes.pop("domain_id", None)  # the link's domain already
        changes.update(self._ab_changes(data, rec, changes))
        starts = changes.get("starts_at", rec.starts_at)
        expires = changes.get("expires_at", rec.expires_at)
        if starts and expires and expires <= starts:
            raise InvalidInputError("expires_at must be after starts_at", field="expires_at")
        tags = (data.tags or []) if "tags" in given else None
        if changes or tags is not None:
            changes["updated_at"] = self.clock()
            try:
                await self.store.update_link(
                    principal.workspace_id, rec.id, changes, tags, folder_names
                )
            except CodeTakenError:
                if "domain_id" not in changes:
                    raise
                code = changes.get("code", rec.code)
                raise CodeTakenError(
                    f"code '{code}' is already taken on {data.domain or 'that domain'} — move "
                    "the link with a new code (give code too), or leave it where it is",
                    field="code",
                ) from None
            self._changed(rec.code, changes.get("code"))
        return await self.get_link(principal, rec.id)

    def _ab_changes(
        self, data: LinkUpdate, rec: LinkRecord, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """The A/B test state (#15) this update gives the link `rec` (`{}`: unchanged), after
        `changes`: a new spec starts it, `{winner}` ends it, new variants restart it.

        Raises: InvalidInputError when the link could not run the test it would have."""
        given = data.model_fields_set
        variants = changes.get("variants", rec.variants)
        state = abtests.next_state(
            data.ab_test, "ab_test" in given, rec.ab_test,
            "variants" in given and variants != rec.variants,
            abtests.labels_of(variants), self.clock(),
        )  # fmt: skip
        abtests.check_link(state, variants, changes.get("track_conversions", rec.track_conversions))
        return {"ab_test": state} if state is not rec.ab_test else {}

    async def _update_changes(
        self, principal: Principal, data: LinkUpdate
    ) -> tuple[dict[str, Any], list[str] | None]:
        """The columns `data` sets (password hashed, folder and domain resolved) and the
        folder path to create, as update_link and bulk_update_links apply them."""
        await self._check_destinations(data)
        given = data.model_fields_set
        changes: dict[str, Any] = {}
        for name in ("url", "code", *PLAIN_LINK_FIELDS, "disabled", "track_conversions"):
            if name in given:
                changes[name] = stored_value(getattr(data, name))
        for flag in ("disabled", "track_conversions"):
            if flag in changes and changes[flag] is None:
                changes[flag] = False
        if "devices" in given:
            changes["devices"] = (
                {str(k): v for k, v in data.devices.items()} if data.devices else None
            )
        if "password" in given:
            changes["password_hash"] = (
                await hash_password_async(data.password) if data.password else None
            )
        folder_names = None
        if "folder" in given:
            changes["folder_id"], folder_names = await self._folder_target(principal, data.folder)
        if "deleted" in given:
            changes["deleted_at"] = self.clock() if data.deleted else None
        if "domain" in given:  # null: the workspace's default
            changes["domain_id"] = await self.link_domain(principal, data.domain)
        return changes, folder_names

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
