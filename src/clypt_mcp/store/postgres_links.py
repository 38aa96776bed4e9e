"""Links, tags and folders on PostgreSQL: the SQL behind PostgresStore, one connection each."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from clypt_mcp.errors import ConflictError
from clypt_mcp.models import ascii_fold, new_id
from clypt_mcp.store.base import (
    LINK_COLUMNS,
    FolderRecord,
    LinkFilter,
    LinkRecord,
    TagRecord,
    folder_path,
    to_us,
)
from clypt_mcp.store.postgres_clicks import recount_workspace_uniques
from clypt_mcp.store.postgres_sql import (
    LINK_FIELDS,
    LINK_SELECT,
    SORTS,
    execute_unique,
    fetchall,
    fetchone,
    is_unique_violation,
    keyset_value,
    link_where,
    rowcount,
    scalar,
)
from clypt_mcp.store.rows import (
    code_taken,
    decode_link,
    encode_values,
    folder_taken,
    from_us_req,
    link_row,
    tag_taken,
)

if TYPE_CHECKING:
    from clypt_mcp.models import LinkSort
    from clypt_mcp.store.postgres_sql import Conn


# --- links ------------------------------------------------------------------------------


async def insert_link(
    conn: Conn,
    record: LinkRecord,
    tags: list[str],
    idempotency: tuple[str, str, str] | None,
    folder_names: list[str] | None,
) -> None:
    row = link_row(record)
    if folder_names:
        row["folder_id"] = await ensure_path(
            conn, record.workspace_id, folder_names, row["created_at"]
        )
    if idempotency is not None:
        key, request_hash, response = idempotency
        await execute_unique(
            conn,
            "INSERT INTO idempotency VALUES (%s, %s, %s, %s, %s)",
            (record.workspace_id, key, request_hash, response, row["created_at"]),
            ConflictError("idempotency key already used", key=key),
        )
    cols = ", ".join(row)
    marks = ", ".join(f"%({c})s" for c in row)
    sql = f"INSERT INTO links ({cols}) VALUES ({marks})"
    await execute_unique(conn, sql, row, code_taken(record.code))
    await set_tags(conn, record.workspace_id, record.id, tags, row["created_at"])


async def get_link(
    conn: Conn, workspace_id: str | None, link_id: str | None, code: str | None
) -> LinkRecord | None:
    where, args = ("l.id = %s", [link_id]) if link_id is not None else ("l.code = %s", [code])
    if workspace_id is not None:
        where += " AND l.workspace_id = %s"
        args.append(workspace_id)
    rows = await fetchall(conn, f"SELECT {LINK_SELECT} FROM links l WHERE {where}", args)
    records = await hydrate(conn, rows)
    return records[0] if records else None


async def update_link(
    conn: Conn,
    workspace_id: str,
    link_id: str,
    changes: dict[str, Any],
    tags: list[str] | None,
    folder_names: list[str] | None,
    now_us: int,
) -> None:
    row = encode_values(changes)
    if folder_names:
        row["folder_id"] = await ensure_path(conn, workspace_id, folder_names, now_us)
    if row:
        sets = ", ".join(f"{c} = %({c})s" for c in row)
        await execute_unique(
            conn,
            f"UPDATE links SET {sets} WHERE id = %(_id)s AND workspace_id = %(_ws)s",
            {**row, "_id": link_id, "_ws": workspace_id},
            code_taken(str(changes.get("code"))),
        )
    if tags is not None:
        await conn.execute("DELETE FROM link_tags WHERE link_id = %s", (link_id,))
        await set_tags(conn, workspace_id, link_id, tags, now_us)


async def delete_link(conn: Conn, workspace_id: str, link_id: str) -> bool:
    deleted = await rowcount(
        conn, "DELETE FROM links WHERE id = %s AND workspace_id = %s", (link_id, workspace_id)
    )
    if deleted == 0:
        return False
    args = {"ws": workspace_id, "id": link_id, "variants": link_id + "|%"}
    # The workspace's totals forget this link's clicks, and its unique visitors are counted
    # again from the marks of the links that remain.
    await conn.execute(
        """UPDATE rollups AS w SET clicks = w.clicks - l.clicks FROM rollups AS l
            WHERE l.workspace_id = %(ws)s AND l.link_id = %(id)s AND l.dim <> 'uniques'
              AND w.workspace_id = %(ws)s AND w.link_id = '' AND w.grain = l.grain
              AND w.dim = l.dim AND w.t = l.t AND w.key = l.key AND w.bot = l.bot""",
        args,
    )
    await conn.execute(
        "DELETE FROM rollups WHERE workspace_id = %(ws)s AND link_id = '' AND dim = 'link' "
        "AND key = %(id)s",
        args,
    )
    await conn.execute("DELETE FROM rollups WHERE workspace_id = %(ws)s AND link_id = %(id)s", args)
    days = [
        int(r[0])
        for r in await fetchall(
            conn,
            "SELECT DISTINCT day FROM visitor_days WHERE workspace_id = %(ws)s "
            "AND link_id = %(id)s",
            args,
        )
    ]
    await conn.execute(
        "DELETE FROM visitor_days WHERE workspace_id = %(ws)s "
        "AND (link_id = %(id)s OR link_id LIKE %(variants)s)",
        args,
    )
    if days:
        await recount_workspace_uniques(conn, workspace_id, days)
    return True


async def list_links(
    conn: Conn,
    flt: LinkFilter,
    sort: LinkSort,
    limit: int,
    after: tuple[Any, str] | None,
    now: datetime,
) -> tuple[list[LinkRecord], int]:
    where, args = link_where(flt, now)
    column, desc, numeric = SORTS[sort]
    direction = "DESC" if desc else "ASC"
    page_where = where
    if after is not None:
        page_where += f" AND ({column}, l.id) {'<' if desc else '>'} (%(_av)s, %(_aid)s)"
        args = {**args, "_av": keyset_value(after[0], numeric), "_aid": after[1]}
    total = await scalar(conn, f"SELECT COUNT(*) FROM links l WHERE {where}", args)
    rows = await fetchall(
        conn,
        f"SELECT {LINK_SELECT} FROM links l WHERE {page_where} "
        f"ORDER BY {column} {direction}, l.id {direction} LIMIT %(_limit)s",
        {**args, "_limit": limit},
    )
    return await hydrate(conn, rows), int(total)


async def hydrate(conn: Conn, rows: list[tuple[Any, ...]]) -> list[LinkRecord]:
    """LinkRecords from `LINK_SELECT` rows, with their tags and folder paths."""
    if not rows:
        return []
    data = [dict(zip(LINK_FIELDS, r, strict=True)) for r in rows]
    tags: dict[str, list[str]] = {}
    for link_id, name in await fetchall(
        conn,
        """SELECT lt.link_id, t.name FROM link_tags lt JOIN tags t ON t.id = lt.tag_id
            WHERE lt.link_id = ANY(%s::text[]) ORDER BY lower(t.name)""",
        ([d["id"] for d in data],),
    ):
        tags.setdefault(link_id, []).append(name)
    paths = (
        await folder_paths(conn, data[0]["workspace_id"])
        if any(d["folder_id"] for d in data)
        else {}
    )
    return [decode_link(d, tags, paths) for d in data]


async def folder_paths(conn: Conn, workspace_id: str) -> dict[str, str]:
    rows = await fetchall(
        conn, "SELECT id, parent_id, name FROM folders WHERE workspace_id = %s", (workspace_id,)
    )
    parents = {r[0]: (r[1], r[2]) for r in rows}
    return {fid: folder_path(fid, parents) for fid in parents}


def check_columns(changes: dict[str, Any]) -> None:
    unknown = set(changes) - set(LINK_COLUMNS) - {"updated_at"}
    if unknown:
        raise ValueError(f"not link columns: {sorted(unknown)}")


async def set_tags(
    conn: Conn, workspace_id: str, link_id: str, names: list[str], now_us: int
) -> None:
    """Attach tags by name, creating unknown ones. Concurrent creators of one name are fine:
    the loser's insert does nothing and the link gets the winner's tag."""
    if not names:
        return
    await conn.execute(
        """INSERT INTO tags (id, workspace_id, name, color, created_at)
           SELECT n.id, %s, n.name, NULL, %s FROM unnest(%s::text[], %s::text[]) AS n (id, name)
           ON CONFLICT DO NOTHING""",
        (workspace_id, now_us, [new_id("tag") for _ in names], names),
    )
    await conn.execute(
        """INSERT INTO link_tags (link_id, tag_id)
           SELECT %s, id FROM tags WHERE workspace_id = %s AND lower(name) = ANY(%s::text[])
           ON CONFLICT DO NOTHING""",
        (link_id, workspace_id, [ascii_fold(n) for n in names]),
    )


async def ensure_path(conn: Conn, workspace_id: str, names: list[str], now_us: int) -> str:
    """The id of the folder at `names`, creating missing ones; concurrent creators of the same
    path agree on one folder (the unique index decides, the loser reads the winner's row)."""
    parent: str | None = None
    for name in names:
        parent = await _child(conn, workspace_id, parent, name, now_us)
    if parent is None:
        raise ValueError("a folder path needs at least one name")
    return parent


async def _child(conn: Conn, workspace_id: str, parent: str | None, name: str, now_us: int) -> str:
    find = """SELECT id FROM folders WHERE workspace_id = %s AND COALESCE(parent_id, '') = %s
                  AND lower(name) = lower(%s COLLATE "C")"""
    args = (workspace_id, parent or "", name)
    found = await scalar(conn, find, args)
    if found is not None:
        return str(found)
    made = await scalar(
        conn,
        "INSERT INTO folders VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (new_id("fld"), workspace_id, parent, name, now_us),
    )
    if made is None:  # another transaction made it first; this statement sees it committed
        made = await scalar(conn, find, args)
    return str(made)


# --- tags -------------------------------------------------------------------------------


async def list_tags(conn: Conn, workspace_id: str) -> list[TagRecord]:
    rows = await fetchall(
        conn,
        """SELECT t.id, t.name, t.color, t.created_at,
                  (SELECT COUNT(*) FROM link_tags lt JOIN links l ON l.id = lt.link_id
                    WHERE lt.tag_id = t.id AND l.deleted_at IS NULL) AS n
             FROM tags t WHERE t.workspace_id = %s ORDER BY lower(t.name)""",
        (workspace_id,),
    )
    return [TagRecord(r[0], r[1], r[2], from_us_req(r[3]), r[4]) for r in rows]


async def create_tag(conn: Conn, workspace_id: str, record: TagRecord) -> None:
    await execute_unique(
        conn,
        "INSERT INTO tags VALUES (%s, %s, %s, %s, %s)",
        (record.id, workspace_id, record.name, record.color, to_us(record.created_at)),
        tag_taken(record.name),
    )


async def update_tag(
    conn: Conn, workspace_id: str, tag_id: str, name: str, color: str | None
) -> None:
    await execute_unique(
        conn,
        "UPDATE tags SET name = %s, color = %s WHERE id = %s AND workspace_id = %s",
        (name, color, tag_id, workspace_id),
        tag_taken(name),
    )


# --- folders ----------------------------------------------------------------------------


async def list_folders(conn: Conn, workspace_id: str) -> list[FolderRecord]:
    rows = await fetchall(
        conn,
        """SELECT f.id, f.name, f.parent_id, f.created_at,
                  (SELECT COUNT(*) FROM links l WHERE l.folder_id = f.id
                      AND l.deleted_at IS NULL) AS n
             FROM folders f WHERE f.workspace_id = %s ORDER BY f.created_at, f.id""",
        (workspace_id,),
    )
    return [FolderRecord(r[0], r[1], r[2], from_us_req(r[3]), r[4]) for r in rows]


async def create_folder(conn: Conn, workspace_id: str, record: FolderRecord) -> None:
    await execute_unique(
        conn,
        "INSERT INTO folders VALUES (%s, %s, %s, %s, %s)",
        (record.id, workspace_id, record.parent_id, record.name, to_us(record.created_at)),
        folder_taken(record.name),
    )


async def update_folder(
    conn: Conn, workspace_id: str, folder_id: str, name: str, parent_id: str | None
) -> None:
    await execute_unique(
        conn,
        "UPDATE folders SET name = %s, parent_id = %s WHERE id = %s AND workspace_id = %s",
        (name, parent_id, folder_id, workspace_id),
        folder_taken(name),
    )


async def delete_folder(conn: Conn, workspace_id: str, folder_id: str) -> bool:
    row = await fetchone(
        conn,
        "SELECT parent_id FROM folders WHERE id = %s AND workspace_id = %s FOR UPDATE",
        (folder_id, workspace_id),
    )
    if row is None:
        return False
    parent = row[0]
    await conn.execute("UPDATE links SET folder_id = %s WHERE folder_id = %s", (parent, folder_id))
    children = await fetchall(
        conn, "SELECT id, name FROM folders WHERE parent_id = %s ORDER BY id", (folder_id,)
    )
    for child_id, child_name in children:
        try:
            await conn.execute(
                "UPDATE folders SET parent_id = %s WHERE id = %s", (parent, child_id)
            )
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            raise ConflictError(
                f"folder '{child_name}' cannot move up: its new parent already has a "
                "folder of that name — rename one first",
                folder=child_name,
            ) from exc
    await conn.execute("DELETE FROM folders WHERE id = %s", (folder_id,))
    return True
