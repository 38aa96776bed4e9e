"""/folders: the folder tree; parentId nests, PATCH renames and/or moves."""

from __future__ import annotations

from starlette.requests import Request

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import InvalidInputError, NotFoundError
from clypt_mcp.http.api.body import rest_body
from clypt_mcp.http.api.endpoint import BODY_ERRORS, Endpoint, path_id
from clypt_mcp.http.api.params import no_params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import Folder, FolderCreate, FolderList, FolderUpdate, Principal, Scope


async def parent_id(service: ClyptService, principal: Principal, ref: str) -> str:
    """The id of the folder `parentId` names.

    Raises:
        InvalidInputError: when there is no such folder in the caller's workspace.
    """
    try:
        return (await service.get_folder(principal, ref)).id
    except NotFoundError:
        raise InvalidInputError(
            f"parentId: no folder '{ref}' in this workspace — use an id from GET /folders",
            field="parentId",
        ) from None


def endpoints(state: AppState) -> list[Endpoint]:
    service = state.service

    async def list_folders(request: Request, principal: Principal) -> FolderList:
        no_params(request)
        return await service.list_folders(principal)

    async def get_folder(request: Request, principal: Principal) -> Folder:
        no_params(request)
        return await service.get_folder(principal, path_id(request))

    async def create_folder(request: Request, principal: Principal) -> Folder:
        no_params(request)
        data = await rest_body(request, FolderCreate)
        parent = await parent_id(service, principal, data.parent_id) if data.parent_id else None
        return await service.create_folder(principal, data.name, parent)

    async def update_folder(request: Request, principal: Principal) -> Folder:
        no_params(request)
        data = await rest_body(request, FolderUpdate)
        given = data.model_fields_set
        if "name" in given and data.name is None:
            raise InvalidInputError("name: cannot be cleared — give a new name or leave it out")
        folder = await service.get_folder(principal, path_id(request))
        parent = await parent_id(service, principal, data.parent_id) if data.parent_id else None
        to_root = "parent_id" in given and data.parent_id is None
        return await service.update_folder(principal, folder.id, data.name, parent, to_root)

    async def delete_folder(request: Request, principal: Principal) -> Folder:
        no_params(request)
        return await service.delete_folder(principal, path_id(request))

    read, write = Scope.FOLDERS_READ, Scope.FOLDERS_WRITE
    return [
        Endpoint(
            "GET",
            "/folders",
            "List every folder, ordered by path",
            list_folders,
            read,
            FolderList,
        ),
        Endpoint(
            "POST",
            "/folders",
            "Create a folder",
            create_folder,
            write,
            Folder,
            status=201,
            body=FolderCreate,
            errors=BODY_ERRORS,
            description="parentId nests it inside another folder; without it, at the top. A "
            "name its parent already holds answers 409.",
        ),
        Endpoint(
            "GET",
            "/folders/{id}",
            "Get one folder with its link count",
            get_folder,
            read,
            Folder,
            errors=(404,),
            description="By id, or by path: a nested folder as /folders/Marketing/2026.",
            slashed_id=True,
        ),
        Endpoint(
            "PATCH",
            "/folders/{id}",
            "Rename and/or move a folder",
            update_folder,
            write,
            Folder,
            body=FolderUpdate,
            errors=(404, *BODY_ERRORS),
            slashed_id=True,
            description="name renames; parentId moves it under another folder, parentId: null "
            "moves it to the top. Absent fields stay.",
        ),
        Endpoint(
            "DELETE",
            "/folders/{id}",
            "Delete a folder",
            delete_folder,
            write,
            Folder,
            errors=(404,),
            slashed_id=True,
            description="Its links and subfolders move to its parent; no link is deleted. "
            "Answers the deleted folder.",
        ),
    ]
