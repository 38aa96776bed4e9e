"""Links on either database: insert, read, change, list, delete, count redirects."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from clypt_mcp.errors import ConflictError, InvalidInputError
from clypt_mcp.models import LinkSort
from clypt_mcp.store.base import (
    GRAINS,
    LINK_COLUMNS,
    LINK_FIELDS,
    LinkChange,
    LinkFilter,
    LinkRecord,
    folder_path,
    to_us,
)
from clypt_mcp.store.organise import ensure_path, set_tags
from clypt_mcp.store.rows import LINK_SELECT, code_taken, decode_link, encode_values, link_row
from clypt_mcp.store.sql import Aggregate, Dialect, Q
from clypt_mcp.store.webhooks import emit_links, has_listeners

_FOLDER = tuple(LINK_FIELDS).index("folder_id")

# A link's status in SQL over `links l` (`:now` in µs), for the status filter.
STATUS_SQL = """CASE
    WHEN l.deleted_at IS NOT NULL THEN 'deleted'
    WHEN l.disabled = 1 THEN 'disabled'
    WHEN (l.expires_at IS NOT NULL AND l.expires_at <= :now)
      OR (l.max_clicks IS NOT NULL AND l.redirects >= l.max_clicks) THEN 'expired'
    WHEN l.starts_at IS NOT NULL AND l.starts_at > :now THEN 'scheduled'
    ELSE 'active' END"""

# sort -> (column, descending, numeric)
SORTS: dict[str, tuple[str, bool, bool]] = {
    "-created_at": ("l.created_at", True, True),
    "created_at": ("l.created_at", False, True),
    "-clicks": ("l.clicks", True, True),
    "clicks": ("l.clicks", False, True),
    "code": ("l.code", False, False),
    "-code": ("l.code", True, False),
}


class Links(Aggregate):
    async def insert_link(
        self,
        record: LinkRecord,
        tags: list[str],
        idempotency: tuple[str, str, str] | None = None,
        folder_names: list[str] | None = None,
    ) -> None:
        row = link_row(record)
        cols = ", ".join(row)
        sql = f"INSERT INTO links ({cols}) VALUES ({', '.join(f':{c}' for c in row)})"

        def job(q: Q) -> None:
            if folder_names:
                row["folder_id"] = ensure_path(
                    q, record.workspace_id, folder_names, row["created_at"]
                )
            if idempotency is not None:
                key, request_hash, response = idempotency
                q.unique(
                    "INSERT INTO idempotency (workspace_id, key, request_hash, response, "
                    "created_at) VALUES (:ws, :key, :hash, :response, :now)",
                    {"ws": record.workspace_id, "key": key, "hash": request_hash,
                     "response": response, "now": row["created_at"]},
                    ConflictError("idempotency key already used", key=key),
                )  # fmt: skip
            q.unique(sql, row, code_taken(record.code))
            set_tags(q, record.workspace_id, record.id, tags, row["created_at"])
            emit(q, "link.created", record.workspace_id, record.id, row["created_at"])

        await self._write(job)

    async def get_link(
        self, workspace_id: str | None, *, link_id: str | None = None, code: str | None = None
    ) -> LinkRecord | None:
        where = "l.id = :key" if link_id is not None else "l.code = :key"
        if workspace_id is not None:
            where += " AND l.workspace_id = :ws"
        args = {"key": link_id if link_id is not None else code, "ws": workspace_id}

        def job(q: Q) -> LinkRecord | None:
            records = hydrate(q, q.all(f"SELECT {LINK_SELECT} FROM links l WHERE {where}", args))
            return records[0] if records else None

        return await self._read(job)

    async def update_link(
        self,
        workspace_id: str,
        link_id: str,
        changes: dict[str, Any],
        tags: list[str] | None,
        folder_names: list[str] | None = None,
    ) -> None:
        unknown = set(changes) - set(LINK_COLUMNS) - {"updated_at"}
        if unknown:
            raise ValueError(f"not link columns: {sorted(unknown)}")
        row = encode_values(changes)
        now_us = row.get("updated_at") or int(time.time() * 1_000_000)

        def job(q: Q) -> None:
            apply_change(
                q,
                workspace_id,
                link_id,
                LinkChange(link_id, changes, tags, folder_names=folder_names),
                row,
                now_us,
            )

        await self._write(job)

    async def delete_link(self, workspace_id: str, link_id: str) -> bool:
        return await self._write(lambda q: delete_one(q, workspace_id, link_id))

    async def update_links(self, workspace_id: str, items: list[LinkChange]) -> None:
        """Apply each change with the same per-link write as `update_link`, all in one
        transaction: a crash leaves every link of `items` wholly old or wholly new."""
        prepared = []
        for item in items:
            unknown = set(item.changes) - set(LINK_COLUMNS) - {"updated_at"}
            if unknown:
                raise ValueError(f"not link columns: {sorted(unknown)}")
            row = encode_values(item.changes)
            prepared.append((item, row, row.get("updated_at") or int(time.time() * 1_000_000)))

        def job(q: Q) -> None:
            for item, row, now_us in prepared:
                apply_change(q, workspace_id, item.link_id, item, row, now_us)

        await self._write(job)

    async def delete_links(self, workspace_id: str, link_ids: list[str]) -> list[bool]:
        """Delete each link for good, as `delete_link` does, in one transaction."""
        return await self._write(lambda q: [delete_one(q, workspace_id, i) for i in link_ids])

    async def list_links(
        self,
        flt: LinkFilter,
        sort: LinkSort,
        limit: int,
        after: tuple[Any, str] | None,
        now: datetime,
    ) -> tuple[list[LinkRecord], int]:
        where, args = link_where(self.db.dialect, flt, now)
        column, desc, numeric = SORTS[sort]
        direction = "DESC" if desc else "ASC"
        page_where = where
        if after is not None:
            page_where += f" AND ({column}, l.id) {'<' if desc else '>'} (:_av, :_aid)"
            args = {**args, "_av": keyset_value(after[0], numeric), "_aid": after[1]}

        def job(q: Q) -> tuple[list[LinkRecord], int]:
            total = q.scalar(f"SELECT COUNT(*) FROM links l WHERE {where}", args)
            rows = q.all(
                f"SELECT {LINK_SELECT} FROM links l WHERE {page_where} "
                f"ORDER BY {column} {direction}, l.id {direction} LIMIT :_limit",
                {**args, "_limit": limit},
            )
            return hydrate(q, rows), int(total)

        return await self._read(job)

    async def count_redirect(self, link_id: str, now: datetime) -> bool:
        def job(q: Q) -> bool:
            row = q.one(
                """UPDATE links SET redirects = redirects + 1
                    WHERE id = :id AND (max_clicks IS NULL OR redirects < max_clicks)
                    RETURNING workspace_id, redirects, max_clicks""",
                {"id": link_id},
            )
            if row is None:
                return False
            if row[2] is not None and row[1] >= row[2]:  # this visit spent the last use
                emit(q, "link.click_limit_reached", row[0], link_id, to_us(now) or 0)
            return True

        return await self._write(job)


def emit(
    q: Q, event_type: str, workspace_id: str, link_id: str, now_us: int, permanent: bool = False
) -> None:
    """The webhook outbox hook of a link write: an event for the link as it now is (before a
    permanent delete: as it was), in the caller's transaction; nothing without a listener."""
    if not has_listeners(q, workspace_id, event_type):
        return
    rows = q.all(f"SELECT {LINK_SELECT} FROM links l WHERE l.id = :id", {"id": link_id})
    emit_links(q, event_type, rows, hydrate(q, rows), now_us, permanent)


def apply_change(
    q: Q, workspace_id: str, link_id: str, item: LinkChange, row: dict[str, Any], now_us: int
) -> None:
    """One link's update (encoded columns `row`, its tags and folder) inside the caller's
    transaction."""
    if item.folder_names:
        row["folder_id"] = ensure_path(q, workspace_id, item.folder_names, now_us)
    if row:
        sets = ", ".join(f"{c} = :{c}" for c in row)
        q.unique(
            f"UPDATE links SET {sets} WHERE id = :_id AND workspace_id = :_ws",
            {**row, "_id": link_id, "_ws": workspace_id},
            code_taken(str(item.changes.get("code"))),
        )
    if item.tags is not None:
        q.run("DELETE FROM link_tags WHERE link_id = :id", {"id": link_id})
        set_tags(q, workspace_id, link_id, item.tags, now_us)
    for name in item.remove_tags:
        q.run(
            f"""DELETE FROM link_tags WHERE link_id = :link AND tag_id IN (SELECT id FROM tags
                 WHERE workspace_id = :ws AND {q.d.same_name("name", ":name")})""",
            {"link": link_id, "ws": workspace_id, "name": name},
        )
    if item.add_tags:
        set_tags(q, workspace_id, link_id, item.add_tags, now_us)
    deleted = item.changes.get("deleted_at") is not None
    emit(q, "link.deleted" if deleted else "link.updated", workspace_id, link_id, now_us)


def delete_one(q: Q, workspace_id: str, link_id: str) -> bool:
    """Remove one link for good with its clicks, rollups and visitor marks, inside the
    caller's transaction; False when there was no such link."""
    args = {"ws": workspace_id, "id": link_id, "variants": link_id + "|%"}
    emit(q, "link.deleted", workspace_id, link_id, int(time.time() * 1_000_000), permanent=True)
    if not q.run("DELETE FROM links WHERE id = :id AND workspace_id = :ws", args):
        return False
    # The workspace's totals forget this link's clicks, and its unique visitors are
    # counted again from the marks of the links that remain.
    q.run(
        """UPDATE rollups AS w SET clicks = w.clicks - l.clicks FROM rollups AS l
            WHERE l.workspace_id = :ws AND l.link_id = :id AND l.dim <> 'uniques'
              AND w.workspace_id = :ws AND w.link_id = '' AND w.grain = l.grain
              AND w.dim = l.dim AND w.t = l.t AND w.key = l.key AND w.bot = l.bot""",
        args,
    )
    q.run(
        "DELETE FROM rollups WHERE workspace_id = :ws AND link_id = '' AND dim = 'link' "
        "AND key = :id",
        args,
    )
    q.run("DELETE FROM rollups WHERE workspace_id = :ws AND link_id = :id", args)
    from clypt_mcp.store.conversions import forget_conversions  # (imports links)

    forget_conversions(q, args)  # #15: and its conversions, the same way
    days = q.all(
        "SELECT DISTINCT day FROM visitor_days WHERE workspace_id = :ws AND link_id = :id",
        args,
    )
    q.run(
        "DELETE FROM visitor_days WHERE workspace_id = :ws "
        "AND (link_id = :id OR link_id LIKE :variants)",
        args,
    )
    recount_workspace_uniques(q, workspace_id, [int(r[0]) for r in days])
    return True


def recount_workspace_uniques(q: Q, workspace_id: str, days: list[int]) -> None:
    """Rebuild the workspace's visitor marks and 'uniques' rollups of `days` from the marks of
    the links that remain (after a link is deleted for good)."""
    for day in days:
        args = {"ws": workspace_id, "day": day, "end": day + 86400}
        q.run(
            "DELETE FROM visitor_days WHERE workspace_id = :ws AND link_id = '' AND day = :day",
            args,
        )
        q.run(
            """INSERT INTO visitor_days (workspace_id, link_id, day, visitor, first_ts)
               SELECT :ws, '', :day, visitor, MIN(first_ts) FROM visitor_days
                WHERE workspace_id = :ws AND day = :day
                  AND link_id IN (SELECT id FROM links WHERE workspace_id = :ws)
                GROUP BY visitor""",
            args,
        )
        q.run(
            "DELETE FROM rollups WHERE workspace_id = :ws AND link_id = '' AND dim = 'uniques' "
            "AND t >= :day AND t < :end",
            args,
        )
        for grain in GRAINS:
            q.run(
                f"""INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
                    SELECT :ws, '', {grain}, 'uniques', (first_ts / {grain}) * {grain}, '', 0,
                           COUNT(*) FROM visitor_days
                     WHERE workspace_id = :ws AND link_id = '' AND day = :day
                     GROUP BY (first_ts / {grain}) * {grain}""",
                args,
            )


def hydrate(q: Q, rows: list[Any]) -> list[LinkRecord]:
    """LinkRecords from `LINK_SELECT` rows, with their tags and folder paths."""
    if not rows:
        return []
    args: dict[str, Any] = {}
    ids = q.d.in_list("lt.link_id", "ids", [r[0] for r in rows], args)
    tags: dict[str, list[str]] = {}
    for link_id, name in q.all(
        f"""SELECT lt.link_id, t.name FROM link_tags lt JOIN tags t ON t.id = lt.tag_id
             WHERE {ids} ORDER BY {q.d.by_name("t.name")}""",
        args,
    ):
        tags.setdefault(link_id, []).append(name)
    paths = folder_paths(q, rows[0][1]) if any(r[_FOLDER] for r in rows) else {}
    records = [decode_link(tuple(r), tags, paths) for r in rows]
    domain_ids = sorted({r.domain_id for r in records if r.domain_id})
    if domain_ids:
        args = {}
        among = q.d.in_list("id", "doms", domain_ids, args)
        names = dict(q.all(f"SELECT id, name FROM domains WHERE {among}", args))
        for rec in records:
            rec.domain_name = names.get(rec.domain_id) if rec.domain_id else None
    return records


def folder_paths(q: Q, workspace_id: str) -> dict[str, str]:
    rows = q.all(
        "SELECT id, parent_id, name FROM folders WHERE workspace_id = :ws", {"ws": workspace_id}
    )
    parents = {r[0]: (r[1], r[2]) for r in rows}
    return {fid: folder_path(fid, parents) for fid in parents}


def link_where(
    d: Dialect, flt: LinkFilter, now: datetime, include_deleted: bool = False
) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (over `links l`) and its parameters for a filter."""
    clauses = ["l.workspace_id = :ws"]
    args: dict[str, Any] = {"ws": flt.workspace_id, "now": to_us(now)}
    if flt.link_id is not None:
        clauses.append("l.id = :link_id")
        args["link_id"] = flt.link_id
    if flt.query:
        like = "%" + flt.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(
            "("
            + " OR ".join(
                f"l.{c} {d.like} :q ESCAPE '\\'" for c in ("code", "url", "title", "notes")
            )
            + ")"
        )
        args["q"] = like
    if flt.tag:
        clauses.append(
            f"""EXISTS (SELECT 1 FROM link_tags lt JOIN tags t ON t.id = lt.tag_id
                        WHERE lt.link_id = l.id AND {d.same_name("t.name", ":tag")})"""
        )
        args["tag"] = flt.tag
    if flt.folder_ids is not None:
        clauses.append(d.in_list("l.folder_id", "folders", flt.folder_ids, args))
    if flt.by_domain:
        clauses.append("COALESCE(l.domain_id, '') = :domain")
        args["domain"] = flt.domain_id or ""
    if flt.status == "all" or include_deleted:
        pass
    elif flt.status is None:
        clauses.append("l.deleted_at IS NULL")
    else:
        clauses.append(f"({STATUS_SQL}) = :status")
        args["status"] = flt.status
    return " AND ".join(clauses), args


def keyset_value(value: Any, numeric: bool) -> Any:
    """A cursor's sort value as the column's type (a forged cursor cannot reach the SQL)."""
    if numeric and isinstance(value, int) and not isinstance(value, bool):
        return value
    if not numeric and isinstance(value, str):
        return value
    raise InvalidInputError(
        "cursor: not a cursor from list_links — pass next_cursor unchanged, or omit it",
        field="cursor",
    )
