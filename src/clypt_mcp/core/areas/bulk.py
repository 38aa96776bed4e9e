"""Bulk update and delete (#17 item 1): a selection by ids/codes or by a filter, a dry run
whose signed token pins the set it showed, and a run in chunks of one transaction each."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Callable
from typing import Any

from clypt_mcp.core.areas.links import LinksArea, _sort_value
from clypt_mcp.errors import ClyptError, InvalidInputError
from clypt_mcp.models import (
    MAX_BULK_CHANGE,
    BulkAnswer,
    BulkDelete,
    BulkItem,
    BulkUpdate,
    Principal,
    Scope,
)
from clypt_mcp.store.base import LinkChange, LinkFilter, LinkRecord


def _hash_request(data: Any) -> str:
    payload = data.model_dump(mode="json")
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class BulkArea(LinksArea):
    """Many links changed or deleted at once (`bulk_update_links`, `bulk_delete_links`)."""

    async def bulk_update_links(
        self,
        principal: Principal,
        req: BulkUpdate,
        progress: Callable[[int, int], Any] | None = None,
    ) -> BulkAnswer:
        """Change many links at once (see BulkUpdate); a dry run answers a BulkPreview.

        Raises: InvalidInputError (a bad token or selection), NotFoundError (a filter's
        folder), InsufficientScopeError.
        """
        self.require(principal, Scope.LINKS_WRITE)
        data = req.changes
        changes, folder_names = await self._update_changes(principal, data)
        given = data.model_fields_set
        tags = (data.tags or []) if "tags" in given else None
        add, remove = list(data.add_tags or []), list(data.remove_tags or [])
        digest = _hash_request(data)

        def change(rec: LinkRecord) -> LinkChange | str | None:
            starts = changes.get("starts_at", rec.starts_at)
            expires = changes.get("expires_at", rec.expires_at)
            if starts and expires and expires <= starts:
                return "expires_at must be after starts_at"
            try:  # each link's own A/B test (#15): started, ended or restarted by the change
                ab = self._ab_changes(data, rec, changes)
            except InvalidInputError as exc:
                return exc.message
            now = self.clock()
            return LinkChange(rec.id, {**changes, **ab, "updated_at": now}, tags, add, remove,
                              folder_names)  # fmt: skip

        async def apply(items: list[LinkChange]) -> None:
            await self.store.update_links(principal.workspace_id, items)

        return await self._bulk(principal, req, "update:" + digest, change, apply, progress)

    async def bulk_delete_links(
        self,
        principal: Principal,
        req: BulkDelete,
        progress: Callable[[int, int], Any] | None = None,
    ) -> BulkAnswer:
        """Soft-delete (restorable) or, with links:delete and confirm, remove many links.

        Raises: InvalidInputError, NotFoundError, InsufficientScopeError.
        """
        self.require(principal, Scope.LINKS_DELETE if req.permanent else Scope.LINKS_WRITE)
        dry = req.dry_run if req.dry_run is not None else req.filter is not None
        if req.permanent and not dry and not req.confirm:
            raise InvalidInputError(
                "confirm: a permanent delete removes the links and their clicks for good — ask "
                "the user, then send confirm=true (or permanent=false for a restorable delete)",
                field="confirm",
            )

        def change(rec: LinkRecord) -> LinkChange | str | None:
            if rec.deleted_at is not None and not req.permanent:
                return None  # already deleted: its deletion time stays
            now = self.clock()
            return LinkChange(rec.id, {"deleted_at": now, "updated_at": now})

        async def apply(items: list[LinkChange]) -> None:
            ids = [i.link_id for i in items]
            if req.permanent:
                await self.store.delete_links(principal.workspace_id, ids)
            else:
                await self.store.update_links(principal.workspace_id, items)

        kind = "delete:permanent" if req.permanent else "delete:soft"
        return await self._bulk(principal, req, kind, change, apply, progress)

    async def _bulk_selection(
        self, principal: Principal, req: BulkUpdate | BulkDelete
    ) -> tuple[list[LinkRecord | str], LinkFilter | None]:
        """The links named (a record, or the reason it cannot be found, per item), or those
        the filter matches now (with the filter)."""
        if req.links is not None:
            named: list[LinkRecord | str] = []
            for ref in req.links:
                try:
                    named.append(await self._record(principal, ref))
                except ClyptError as exc:
                    named.append(exc.message)
            return named, None
        f = req.filter
        assert f is not None
        flt = LinkFilter(workspace_id=principal.workspace_id, query=f.query, tag=f.tag,
                         status=f.status)  # fmt: skip
        if f.folder:
            flt.folder_ids = await self.folder_ids_under(principal, f.folder)
        found: list[LinkRecord | str] = []
        after = None
        while True:
            page, _ = await self.store.list_links(flt, "created_at", 500, after, self.clock())
            found.extend(page)
            if len(page) < 500:
                return found, flt
            if len(found) > MAX_BULK_CHANGE:
                raise InvalidInputError(
                    f"filter: it matches more than {MAX_BULK_CHANGE} links — narrow it (tag, "
                    "folder, status or query) and run each part",
                    field="filter",
                )
            after = (_sort_value(page[-1], "created_at"), page[-1].id)

    async def _bulk(
        self,
        principal: Principal,
        req: BulkUpdate | BulkDelete,
        kind: str,
        change: Callable[[LinkRecord], LinkChange | str | None],
        apply: Callable[[list[LinkChange]], Any],
        progress: Callable[[int, int], Any] | None,
    ) -> BulkAnswer:
        selected, flt = await self._bulk_selection(principal, req)
        if len(selected) > MAX_BULK_CHANGE:
            raise InvalidInputError(
                f"filter: it matches more than {MAX_BULK_CHANGE} links — narrow it", field="filter"
            )
        dry = req.dry_run if req.dry_run is not None else req.filter is not None
        records = [r for r in selected if isinstance(r, LinkRecord)]
        ids = [r.id for r in records]
        secret = await self._token_key()
        if dry:
            token = _bulk_token(secret, principal.workspace_id, kind, ids)
            return BulkAnswer(dry_run=True, count=len(records),
                              links=[r.code for r in records[:20]], token=token, changed=0,
                              results=[], no_longer_matching=[])  # fmt: skip
        results: list[BulkItem] = []
        gone: list[str] = []
        plan: list[tuple[int, LinkRecord]] = []
        if flt is not None or req.token is not None:
            if req.token is None:
                raise InvalidInputError(
                    "token: a filter run needs the token of its dry run — run with "
                    "dry_run=true first, show the user the links, then send the token",
                    field="token",
                )
            shown = _read_bulk_token(secret, principal.workspace_id, kind, req.token)
            if flt is None and shown != ids:
                raise InvalidInputError(
                    "token: it was made for another set of links — send the same links as the "
                    "dry run, or run a new dry run",
                    field="token",
                )
            now_matching = {r.id: r for r in records}
            for index, link_id in enumerate(shown):
                rec = now_matching.get(link_id)
                if rec is None:
                    gone_rec = await self.store.get_link(principal.workspace_id, link_id=link_id)
                    gone.append(gone_rec.code if gone_rec else link_id)
                else:
                    plan.append((index, rec))
        else:
            for index, item in enumerate(selected):
                if isinstance(item, LinkRecord):
                    plan.append((index, item))
                else:
                    results.append(BulkItem(index=index, link=req.links[index] if req.links
                                            else "", status="error", error=item))  # fmt: skip
        changed = 0
        for start in range(0, len(plan), BULK_CHUNK):
            chunk: list[LinkChange] = []
            for index, rec in plan[start : start + BULK_CHUNK]:
                made = change(rec)
                if made is None:
                    results.append(BulkItem(index=index, link=rec.code, status="unchanged"))
                    continue
                if isinstance(made, str):
                    results.append(BulkItem(index=index, link=rec.code, status="error",
                                            error=made))  # fmt: skip
                    continue
                chunk.append(made)
                results.append(BulkItem(index=index, link=rec.code, status="changed"))
            if chunk:
                await apply(chunk)  # one transaction per chunk
                changed += len(chunk)
                self._changed(*(rec.code for _, rec in plan[start : start + BULK_CHUNK]))
            if progress is not None:
                await progress(min(start + BULK_CHUNK, len(plan)), len(plan))
        results.sort(key=lambda r: r.index)
        done = [r.link for r in results if r.status == "changed"]
        return BulkAnswer(dry_run=False, count=len(results), links=done[:20], token=None,
                          changed=changed, results=results, no_longer_matching=gone)  # fmt: skip

    async def _token_key(self) -> bytes:
        secret = await self.store.visitor_secret()
        return hashlib.sha256(b"clypt bulk token\0" + secret).digest()


BULK_CHUNK = 100  # links per transaction in a bulk run
BULK_TOKEN_TTL = 3600  # seconds a dry run's token stays good


def _bulk_token(key: bytes, workspace_id: str, kind: str, ids: list[str]) -> str:
    """A signed token naming exactly `ids` (in order) for one workspace and one change."""
    body = json.dumps([workspace_id, kind, int(time.time()), ids], separators=(",", ":"))
    packed = base64.urlsafe_b64encode(zlib.compress(body.encode())).decode().rstrip("=")
    mac = hmac.new(key, packed.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{packed}.{mac}"


def _read_bulk_token(key: bytes, workspace_id: str, kind: str, token: str) -> list[str]:
    bad = InvalidInputError(
        "token: not the token of this dry run (another change, workspace or selection, or "
        "altered) — run the dry run again and send its token unchanged",
        field="token",
    )
    packed, _, mac = token.rpartition(".")
    want = hmac.new(key, packed.encode(), hashlib.sha256).hexdigest()[:32]
    if not packed or not hmac.compare_digest(mac, want):
        raise bad
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)))
        ws, got_kind, made, ids = json.loads(raw)
    except (ValueError, TypeError, zlib.error):
        raise bad from None
    if ws != workspace_id or got_kind != kind:
        raise bad
    if time.time() - made > BULK_TOKEN_TTL:
        raise InvalidInputError("token: older than an hour — run the dry run again", field="token")
    return [str(i) for i in ids]
