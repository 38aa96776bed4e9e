"""/links: create, list, read, change and delete short links; their analytics and QR codes."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import anyio
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from clypt_mcp.core import qr
from clypt_mcp.http.api.body import camel_only, rest_body
from clypt_mcp.http.api.endpoint import BODY_ERRORS, Endpoint, json_body, path_id
from clypt_mcp.http.api.params import Params, no_params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import (
    MAX_BULK,
    Analytics,
    AnalyticsQuery,
    BulkAnswer,
    BulkChanges,
    BulkDelete,
    BulkFilter,
    BulkResult,
    BulkUpdate,
    Deleted,
    Link,
    LinkCreate,
    LinkPage,
    LinkQuery,
    LinkUpdate,
    Principal,
    Scope,
    rest_words,
)

M = TypeVar("M", bound=BaseModel)
LIST_PARAMS = Params(LinkQuery, rename={"query": "q"})
ANALYTICS_PARAMS = Params(AnalyticsQuery, exclude=frozenset({"link"}))


class BulkCreate(BaseModel):
    """Up to 100 links, each with the fields of a single create."""

    model_config = ConfigDict(extra="forbid")

    links: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BULK,
        json_schema_extra={"items": {"$ref": "#/components/schemas/LinkCreate"}},
    )


class DeleteQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    permanent: bool = Field(
        default=False,
        description="false: soft delete (restorable; redirects answer 410). true: remove for "
        "good, with the link's clicks; needs links:delete.",
    )


class QrQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = Field(default=300, ge=qr.MIN_SIZE, le=qr.MAX_SIZE, description="Pixels, square.")
    margin: int = Field(default=4, ge=0, le=16, description="Quiet zone, in modules.")
    format: Literal["png", "svg"] = "png"


DELETE_PARAMS = Params(DeleteQuery)
QR_PARAMS = Params(QrQuery)
QR_MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


def endpoints(state: AppState) -> list[Endpoint]:
    """The /links endpoints, in routing order (`/links/bulk` before `/links/{id}`)."""
    service = state.service

    async def list_links(request: Request, principal: Principal) -> LinkPage:
        return await service.list_links(principal, LIST_PARAMS.parse(request))

    async def create_link(request: Request, principal: Principal) -> Link:
        no_params(request)
        data = await rest_body(request, LinkCreate)
        return await service.create_link(principal, data)

    async def bulk_create_links(request: Request, principal: Principal) -> BulkResult:
        no_params(request)
        data = await rest_body(request, BulkCreate)
        for index, item in enumerate(data.links):
            camel_only(LinkCreate, item, f"links.{index}.")
        result = await service.bulk_create_links(principal, data.links)
        for error in result.errors:  # each item's error in REST's own words
            error.error = rest_words(error.error)
        return result

    async def get_link(request: Request, principal: Principal) -> Link:
        no_params(request)
        return await service.get_link(principal, path_id(request))

    async def update_link(request: Request, principal: Principal) -> Link:
        no_params(request)
        data = await rest_body(request, LinkUpdate)
        return await service.update_link(principal, path_id(request), data)

    async def bulk_body(request: Request, model: type[M]) -> M:
        """The body, camelCase only at every level (the selection's filter, the changes)."""
        no_params(request)
        body = await json_body(request)
        camel_only(model, body)
        if isinstance(body, dict):
            camel_only(BulkFilter, body.get("filter"), "filter.")
            camel_only(BulkChanges, body.get("changes"), "changes.")
        return model.model_validate(body)

    async def bulk_update_links(request: Request, principal: Principal) -> BulkAnswer:
        return await service.bulk_update_links(principal, await bulk_body(request, BulkUpdate))

    async def bulk_delete_links(request: Request, principal: Principal) -> BulkAnswer:
        return await service.bulk_delete_links(principal, await bulk_body(request, BulkDelete))

    async def delete_link(request: Request, principal: Principal) -> Deleted:
        query: DeleteQuery = DELETE_PARAMS.parse(request)
        return await service.delete_link(principal, path_id(request), query.permanent)

    async def get_link_analytics(request: Request, principal: Principal) -> Analytics:
        query = ANALYTICS_PARAMS.parse(request, link=path_id(request))
        return await service.get_analytics(principal, query)

    async def get_qr_code(request: Request, principal: Principal) -> Response:
        query: QrQuery = QR_PARAMS.parse(request)
        link = await service.get_link(principal, path_id(request))
        image = await anyio.to_thread.run_sync(
            qr.render, qr.qr_url(link.short_url), query.size, query.margin, query.format
        )
        return Response(image, media_type=QR_MEDIA[query.format])

    read, write = Scope.LINKS_READ, Scope.LINKS_WRITE
    one = "/links/{id}"
    return [
        Endpoint(
            "GET",
            "/links",
            "List and search links",
            list_links,
            read,
            LinkPage,
            params=LIST_PARAMS,
            errors=(422,),
            description="Newest first by default; pass nextCursor back as cursor for the next "
            "page. q searches code, url, title and notes; status defaults to all but deleted; "
            "domain keeps the links served on that host name.",
        ),
        Endpoint(
            "POST",
            "/links",
            "Create a short link",
            create_link,
            write,
            Link,
            status=201,
            body=LinkCreate,
            errors=(404, *BODY_ERRORS),
            description="Only url is required. A taken code answers 409 code_taken.",
        ),
        Endpoint(
            "POST",
            "/links/bulk",
            "Create up to 100 links",
            bulk_create_links,
            write,
            BulkResult,
            status=201,
            also=(200,),
            status_of=lambda result: 201 if result.created else 200,
            body=BulkCreate,
            errors=BODY_ERRORS,
            description="Each bad item is reported in errors by its index and never stops the "
            "others. 201 when at least one link was created, else 200.",
        ),
        Endpoint(
            "PATCH",
            "/links/bulk",
            "Change up to 1,000 links at once",
            bulk_update_links,
            write,
            BulkAnswer,
            body=BulkUpdate,
            errors=(404, *BODY_ERRORS),
            description="Select links by links (ids, codes or short URLs) or filter (query, "
            "tag, folder, status); changes holds any PATCH /links/{id} field but code, plus "
            "addTags and removeTags. A dry run (dryRun: true; the default with a filter) answers "
            "count, the first 20 codes and a token; the run repeats the selection with dryRun: "
            "false and that token and changes exactly that set: a link that no longer matches "
            "is listed in noLongerMatching and left alone. results has one entry per link "
            "(index from 0), status changed, unchanged or error; one transaction per 100 links.",
        ),
        Endpoint(
            "POST",
            "/links/bulk-delete",
            "Delete up to 1,000 links at once",
            bulk_delete_links,
            write,
            BulkAnswer,
            body=BulkDelete,
            errors=(404, *BODY_ERRORS),
            description="The selection, dry run and token of PATCH /links/bulk. A soft delete "
            "(restorable: PATCH /links/bulk with changes.deleted false) unless permanent: true, "
            "which needs links:delete and confirm: true and removes the links with their clicks.",
        ),
        Endpoint(
            "GET",
            one,
            "Get a link",
            get_link,
            read,
            Link,
            errors=(404, 409),
            description="By id (a code works too). Another workspace's link is a 404.",
        ),
        Endpoint(
            "PATCH",
            one,
            "Change a link",
            update_link,
            write,
            Link,
            body=LinkUpdate,
            errors=(404, *BODY_ERRORS),
            description="Absent fields stay as they are; null clears a field. deleted: false "
            "restores a soft-deleted link.",
        ),
        Endpoint(
            "DELETE",
            one,
            "Delete a link",
            delete_link,
            write,
            Deleted,
            params=DELETE_PARAMS,
            errors=(404, 409, 422),
        ),
        Endpoint(
            "GET",
            one + "/analytics",
            "Analytics of one link",
            get_link_analytics,
            Scope.ANALYTICS_READ,
            Analytics,
            params=ANALYTICS_PARAMS,
            errors=(404, 409, 422),
        ),
        Endpoint(
            "GET",
            one + "/qr",
            "QR code of a link's short URL",
            get_qr_code,
            read,
            None,
            params=QR_PARAMS,
            errors=(404, 409, 422),
            media=("image/png", "image/svg+xml"),
        ),
    ]
