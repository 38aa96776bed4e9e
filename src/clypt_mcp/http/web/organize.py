"""The dashboard's tag and folder pages: list, create, rename (and move a folder), delete.

Each action goes through ClyptService with the session's Principal, which checks the
`tags:*` / `folders:*` scopes as REST and MCP do; bad input comes back on the same page with
the field and the rule named, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import ClyptError, describe_validation_error
from clypt_mcp.http.web.common import Session, page
from clypt_mcp.http.web.forms import Form
from clypt_mcp.models import FolderCreate, FolderUpdate, Scope, TagCreate, TagUpdate

Handler = Callable[[Request, Session, Form | None], Awaitable[Response]]
Wrap = Callable[..., Callable[[Request], Awaitable[Response]]]

NOTICES = {
    "tag-created": "Tag created.",
    "tag-renamed": "Tag renamed.",
    "tag-deleted": "Tag deleted; it was taken off its links.",
    "folder-created": "Folder created.",
    "folder-saved": "Folder saved.",
    "folder-deleted": "Folder deleted; its links and subfolders moved up one level.",
}


def routes(service: ClyptService, signed_in: Wrap) -> list[BaseRoute]:
    """The routes, each wrapped by the dashboard's `signed_in` (session, CSRF, errors)."""

    # --- tags ---------------------------------------------------------------------------

    async def tags_page(
        request: Request,
        session: Session,
        form: Form | None,
        error: str | None = None,
        status: int = 200,
        values: dict[str, str] | None = None,
    ) -> Response:
        tags = (await service.list_tags(session.principal)).tags
        return page(
            request,
            "tags.html",
            status=status,
            session=session,
            tags=tags,
            error=error,
            notice=_notice(request),
            values=values or {},
            can_write=session.can(Scope.TAGS_WRITE),
        )

    async def create_tag(request: Request, session: Session, form: Form | None) -> Response:
        assert form is not None
        values = {"name": form.get("name"), "color": form.get("color")}
        try:
            data = TagCreate.model_validate({k: v for k, v in values.items() if v})
            await service.create_tag(session.principal, data.name, data.color)
        except (ClyptError, ValidationError) as exc:
            message, status = _message(exc)
            return await tags_page(request, session, None, message, status, values)
        return RedirectResponse("/app/tags?done=tag-created", status_code=303)

    async def rename_tag(request: Request, session: Session, form: Form | None) -> Response:
        assert form is not None
        ref = str(request.path_params["id"])
        try:
            data = TagUpdate.model_validate({"name": form.get("name")})
            await service.update_tag(session.principal, ref, data.name)
        except (ClyptError, ValidationError) as exc:
            message, status = _message(exc)
            return await tags_page(request, session, None, message, status)
        return RedirectResponse("/app/tags?done=tag-renamed", status_code=303)

    async def delete_tag(request: Request, session: Session, form: Form | None) -> Response:
        await service.delete_tag(session.principal, str(request.path_params["id"]))
        return RedirectResponse("/app/tags?done=tag-deleted", status_code=303)

    # --- folders ------------------------------------------------------------------------

    async def folders_page(
        request: Request,
        session: Session,
        form: Form | None,
        error: str | None = None,
        status: int = 200,
        values: dict[str, str] | None = None,
    ) -> Response:
        folders = (await service.list_folders(session.principal)).folders
        return page(
            request,
            "folders.html",
            status=status,
            session=session,
            folders=folders,
            error=error,
            notice=_notice(request),
            values=values or {},
            can_write=session.can(Scope.FOLDERS_WRITE),
        )

    async def create_folder(request: Request, session: Session, form: Form | None) -> Response:
        assert form is not None
        values = {"name": form.get("name"), "parent": form.get("parent")}
        try:
            data = FolderCreate.model_validate({"name": values["name"]})
            await service.create_folder(session.principal, data.name, values["parent"] or None)
        except (ClyptError, ValidationError) as exc:
            message, status = _message(exc)
            return await folders_page(request, session, None, message, status, values)
        return RedirectResponse("/app/folders?done=folder-created", status_code=303)

    async def update_folder(request: Request, session: Session, form: Form | None) -> Response:
        assert form is not None
        ref = str(request.path_params["id"])
        parent = form.get("parent")
        try:
            data = FolderUpdate.model_validate({"name": form.get("name") or None})
            await service.update_folder(
                session.principal,
                ref,
                data.name,
                parent=parent if parent not in ("", "/") else None,
                to_root=parent == "/",
            )
        except (ClyptError, ValidationError) as exc:
            message, status = _message(exc)
            return await folders_page(request, session, None, message, status)
        return RedirectResponse("/app/folders?done=folder-saved", status_code=303)

    async def delete_folder(request: Request, session: Session, form: Form | None) -> Response:
        await service.delete_folder(session.principal, str(request.path_params["id"]))
        return RedirectResponse("/app/folders?done=folder-deleted", status_code=303)

    get, post = ["GET", "HEAD"], ["POST"]
    return [
        Route("/app/tags", signed_in(tags_page), methods=get),
        Route("/app/tags", signed_in(create_tag, post=True), methods=post),
        Route("/app/tags/{id}/rename", signed_in(rename_tag, post=True), methods=post),
        Route("/app/tags/{id}/delete", signed_in(delete_tag, post=True), methods=post),
        Route("/app/folders", signed_in(folders_page), methods=get),
        Route("/app/folders", signed_in(create_folder, post=True), methods=post),
        Route("/app/folders/{id}/update", signed_in(update_folder, post=True), methods=post),
        Route("/app/folders/{id}/delete", signed_in(delete_folder, post=True), methods=post),
    ]


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done", ""))


def _message(exc: ClyptError | ValidationError) -> tuple[str, int]:
    if isinstance(exc, ValidationError):
        return describe_validation_error(exc), 422
    if exc.status >= 500 and type(exc) is ClyptError:
        return "Something went wrong — try again.", 500
    return exc.message, exc.status if 400 <= exc.status < 600 else 500


__all__ = ["routes"]
