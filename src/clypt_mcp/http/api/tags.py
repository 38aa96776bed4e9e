"""/tags: list, create, rename or recolor, and delete tags."""

from __future__ import annotations

from starlette.requests import Request

from clypt_mcp.errors import InvalidInputError
from clypt_mcp.http.api.body import rest_body
from clypt_mcp.http.api.endpoint import BODY_ERRORS, Endpoint, path_id
from clypt_mcp.http.api.params import no_params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import Principal, Scope, Tag, TagCreate, TagList, TagUpdate


def endpoints(state: AppState) -> list[Endpoint]:
    service = state.service

    async def list_tags(request: Request, principal: Principal) -> TagList:
        no_params(request)
        return await service.list_tags(principal)

    async def get_tag(request: Request, principal: Principal) -> Tag:
        no_params(request)
        return await service.get_tag(principal, path_id(request))

    async def create_tag(request: Request, principal: Principal) -> Tag:
        no_params(request)
        data = await rest_body(request, TagCreate)
        return await service.create_tag(principal, data.name, data.color)

    async def update_tag(request: Request, principal: Principal) -> Tag:
        no_params(request)
        data = await rest_body(request, TagUpdate)
        if "name" in data.model_fields_set and data.name is None:
            raise InvalidInputError("name: cannot be cleared — give a new name or leave it out")
        clear = "color" in data.model_fields_set and data.color is None
        return await service.update_tag(
            principal, path_id(request), data.name, data.color, clear_color=clear
        )

    async def delete_tag(request: Request, principal: Principal) -> Tag:
        no_params(request)
        return await service.delete_tag(principal, path_id(request))

    read, write = Scope.TAGS_READ, Scope.TAGS_WRITE
    return [
        Endpoint(
            "GET",
            "/tags",
            "List tags with their link counts",
            list_tags,
            read,
            TagList,
        ),
        Endpoint(
            "POST",
            "/tags",
            "Create a tag",
            create_tag,
            write,
            Tag,
            status=201,
            body=TagCreate,
            errors=BODY_ERRORS,
            description="A name already taken (in any case) answers 409 tag_taken.",
        ),
        Endpoint(
            "GET",
            "/tags/{id}",
            "Get one tag with its link count",
            get_tag,
            read,
            Tag,
            errors=(404,),
            description="By id (a name works too, in any case).",
        ),
        Endpoint(
            "PATCH",
            "/tags/{id}",
            "Rename or recolor a tag",
            update_tag,
            write,
            Tag,
            body=TagUpdate,
            errors=(404, *BODY_ERRORS),
            description="By id (a name works too). color: null removes the color.",
        ),
        Endpoint(
            "DELETE",
            "/tags/{id}",
            "Delete a tag",
            delete_tag,
            write,
            Tag,
            errors=(404,),
            description="Removes the tag from every link; the links stay. Answers the deleted tag.",
        ),
    ]
