"""Tags and folders on either database, and the helpers links use to place themselves."""

from __future__ import annotations

from datetime import datetime

from clypt_mcp.errors import ConflictError
from clypt_mcp.store.base import FolderRecord, TagRecord, to_us
from clypt_mcp.store.rows import folder_taken, from_us_req, new_id, tag_taken
from clypt_mcp.store.sql import Aggregate, Q


class Organise(Aggregate):
    async def list_tags(self, workspace_id: str) -> list[TagRecord]:
        def job(q: Q) -> list[TagRecord]:
            rows = q.all(
                f"""SELECT t.id, t.name, t.color, t.created_at,
                          (SELECT COUNT(*) FROM link_tags lt JOIN links l ON l.id = lt.link_id
                            WHERE lt.tag_id = t.id AND l.deleted_at IS NULL) AS n
                     FROM tags t WHERE t.workspace_id = :ws ORDER BY {q.d.by_name("t.name")}""",
                {"ws": workspace_id},
            )
            return [TagRecord(r[0], r[1], r[2], from_us_req(r[3]), r[4]) for r in rows]

        return await self._read(job)

    async def create_tag(self, workspace_id: str, record: TagRecord) -> None:
        args = {"id": record.id, "ws": workspace_id, "name": record.name, "color": record.color,
                "at": to_us(record.created_at)}  # fmt: skip
        sql = """INSERT INTO tags (id, workspace_id, name, color, created_at)
                 VALUES (:id, :ws, :name, :color, :at)"""
        await self._write(lambda q: q.unique(sql, args, tag_taken(record.name)))

    async def update_tag(
        self, workspace_id: str, tag_id: str, name: str, color: str | None
    ) -> None:
        args = {"id": tag_id, "ws": workspace_id, "name": name, "color": color}
        sql = "UPDATE tags SET name = :name, color = :color WHERE id = :id AND workspace_id = :ws"
        await self._write(lambda q: q.unique(sql, args, tag_taken(name)))

    async def delete_tag(self, workspace_id: str, tag_id: str) -> bool:
        sql = "DELETE FROM tags WHERE id = :id AND workspace_id = :ws"
        return await self._write(lambda q: q.run(sql, {"id": tag_id, "ws": workspace_id})) > 0

    async def list_folders(self, workspace_id: str) -> list[FolderRecord]:
        def job(q: Q) -> list[FolderRecord]:
            rows = q.all(
                """SELECT f.id, f.name, f.parent_id, f.created_at,
                          (SELECT COUNT(*) FROM links l WHERE l.folder_id = f.id
                              AND l.deleted_at IS NULL) AS n
                     FROM folders f WHERE f.workspace_id = :ws ORDER BY f.created_at, f.id""",
                {"ws": workspace_id},
            )
            return [FolderRecord(r[0], r[1], r[2], from_us_req(r[3]), r[4]) for r in rows]

        return await self._read(job)

    async def create_folder(self, workspace_id: str, record: FolderRecord) -> None:
        args = {"id": record.id, "ws": workspace_id, "parent": record.parent_id,
                "name": record.name, "at": to_us(record.created_at)}  # fmt: skip
        await self._write(lambda q: q.unique(_INSERT_FOLDER, args, folder_taken(record.name)))

    async def ensure_folder_path(self, workspace_id: str, names: list[str], now: datetime) -> str:
        return await self._write(lambda q: ensure_path(q, workspace_id, names, to_us(now) or 0))

    async def update_folder(
        self, workspace_id: str, folder_id: str, name: str, parent_id: str | None
    ) -> None:
        args = {"id": folder_id, "ws": workspace_id, "name": name, "parent": parent_id}
        sql = """UPDATE folders SET name = :name, parent_id = :parent
                  WHERE id = :id AND workspace_id = :ws"""
        await self._write(lambda q: q.unique(sql, args, folder_taken(name)))

    async def delete_folder(self, workspace_id: str, folder_id: str) -> bool:
        def job(q: Q) -> bool:
            row = q.one(
                f"SELECT parent_id FROM folders WHERE id = :id AND workspace_id = :ws"
                f"{q.d.lock_rows}",
                {"id": folder_id, "ws": workspace_id},
            )
            if row is None:
                return False
            parent = row[0]
            q.run(
                "UPDATE links SET folder_id = :parent WHERE folder_id = :id",
                {"parent": parent, "id": folder_id},
            )
            children = q.all(
                "SELECT id, name FROM folders WHERE parent_id = :id ORDER BY id", {"id": folder_id}
            )
            for child_id, child_name in children:
                q.unique(
                    "UPDATE folders SET parent_id = :parent WHERE id = :id",
                    {"parent": parent, "id": child_id},
                    ConflictError(
                        f"folder '{child_name}' cannot move up: its new parent already has a "
                        "folder of that name — rename one first",
                        folder=child_name,
                    ),
                )
            q.run("DELETE FROM folders WHERE id = :id", {"id": folder_id})
            return True

        return await self._write(job)


_INSERT_FOLDER = """INSERT INTO folders (id, workspace_id, parent_id, name, created_at)
                    VALUES (:id, :ws, :parent, :name, :at)"""


def set_tags(q: Q, workspace_id: str, link_id: str, names: list[str], now_us: int) -> None:
    """Attach tags by name, creating unknown ones. Concurrent creators of one name are fine:
    the loser's insert does nothing and the link gets the winner's tag."""
    for name in sorted(names, key=str.lower):  # one order, so writers cannot deadlock
        args = {"id": new_id("tag"), "ws": workspace_id, "name": name, "at": now_us,
                "link": link_id}  # fmt: skip
        q.run(
            """INSERT INTO tags (id, workspace_id, name, color, created_at)
               VALUES (:id, :ws, :name, NULL, :at) ON CONFLICT DO NOTHING""",
            args,
        )
        q.run(
            f"""INSERT INTO link_tags (link_id, tag_id)
                SELECT :link, id FROM tags WHERE workspace_id = :ws
                   AND {q.d.same_name("name", ":name")}
                ON CONFLICT DO NOTHING""",
            args,
        )


def ensure_path(q: Q, workspace_id: str, names: list[str], now_us: int) -> str:
    """The id of the folder at `names`, creating missing ones; concurrent creators of the same
    path agree on one folder (the unique index decides, the loser reads the winner's row)."""
    find = f"""SELECT id FROM folders WHERE workspace_id = :ws
                  AND COALESCE(parent_id, '') = :under
                  AND {q.d.same_name("name", ":name")}"""
    parent: str | None = None
    for name in names:
        args = {"id": new_id("fld"), "ws": workspace_id, "parent": parent, "name": name,
                "at": now_us, "under": parent or ""}  # fmt: skip
        found = q.scalar(find, args)
        if found is None:
            found = q.scalar(f"{_INSERT_FOLDER} ON CONFLICT DO NOTHING RETURNING id", args)
        if found is None:  # another transaction made it first; this statement sees it committed
            found = q.scalar(find, args)
        parent = str(found)
    if parent is None:
        raise ValueError("a folder path needs at least one name")
    return parent
