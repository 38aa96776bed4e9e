"""Organisation: tags and the folder tree."""

from __future__ import annotations

from clypt_mcp.core.areas.base import ServiceBase
from clypt_mcp.errors import Hint, InvalidInputError, NotFoundError
from clypt_mcp.models import Folder, FolderList, Principal, Scope, Tag, TagList, ascii_fold, new_id
from clypt_mcp.store.base import FolderRecord, TagRecord, folder_path


class OrganisationArea(ServiceBase):
    """Organisation: tags and the folder tree."""

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
