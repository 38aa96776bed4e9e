"""The dashboard under /app: sign in with an API key, then links, analytics, QR codes and keys.

Every action goes through ClyptService with the signed-in key's Principal, as REST and MCP do,
and the key's scopes are checked here the same way the REST endpoints check them. Pages are
rendered on the server and need no JavaScript; every form posts urlencoded with a CSRF token.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, get_args
from urllib.parse import urlencode

import anyio
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from clypt_mcp.core import qr
from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import (
    AuthenticationError,
    BadRequestError,
    ClyptError,
    IpNotAllowedError,
    NotFoundError,
    describe_validation_error,
)
from clypt_mcp.http.auth import scope_client
from clypt_mcp.http.state import AppState
from clypt_mcp.http.web import chart, organize, signin_links
from clypt_mcp.http.web.common import (
    HERE,
    LINK_COOKIE,
    PAGE_HEADERS,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    SIGNIN_COOKIE,
    Session,
    SigninLimiter,
    close_session,
    csrf_for,
    csrf_ok,
    current_session,
    open_session,
    page,
    set_cookie,
    to_signin,
)
from clypt_mcp.http.web.forms import Form, read_form
from clypt_mcp.http.web.linkform import LinkForm
from clypt_mcp.models import (
    ALL_SCOPES,
    Analytics,
    AnalyticsQuery,
    ApiKeyCreate,
    ApiKeyCreated,
    Interval,
    Link,
    LinkCreate,
    LinkQuery,
    LinkUpdate,
    Period,
    Scope,
)

log = logging.getLogger(__name__)

STATUSES = [
    ("", "All but deleted"),
    ("active", "Active"),
    ("scheduled", "Scheduled"),
    ("expired", "Expired"),
    ("disabled", "Disabled"),
    ("deleted", "Deleted"),
    ("all", "All"),
]
PERIODS = list(get_args(Period))
INTERVALS = list(get_args(Interval))
BREAKDOWNS = [
    ("Countries", "countries"),
    ("Devices", "devices"),
    ("Browsers", "browsers"),
    ("Operating systems", "os"),
    ("Referrers", "referrers"),
    ("Links", "links"),
    ("Variants", "variants"),
    ("Traffic", "traffic"),
    ("Cities", "cities"),
]

Handler = Callable[[Request, Session, Form | None], Awaitable[Response]]


class CsrfError(Exception):
    """A post whose CSRF token is missing, wrong or another session's: it changes nothing."""


def routes(state: AppState) -> list[BaseRoute]:
    service = state.service
    limiter = SigninLimiter(state)

    def signed_in(handler: Handler, post: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session: Session | None = None
            try:
                session = await current_session(request, state)
                if session is None:
                    if post:
                        return _error(request, None, "You are signed out — sign in again.", 403)
                    return to_signin()
                form = None
                if post:
                    form = await read_form(request)
                    if not csrf_ok(session.token, form.get("csrf")):
                        raise CsrfError(
                            "this form is out of date or did not come from this dashboard — "
                            "reload the page and try again"
                        )
                return await handler(request, session, form)
            except CsrfError as exc:
                return _error(request, session, str(exc), 403)
            except ClyptError as exc:
                return _error(request, session, exc.message, _status(exc))
            except ValidationError as exc:
                return _error(request, session, describe_validation_error(exc), 422)
            except Exception:
                log.exception("dashboard page failed")
                return _error(request, session, "Something went wrong — try again.", 500)

        return endpoint

    # --- sign in and out ----------------------------------------------------------------

    async def signin(request: Request) -> Response:
        if request.method == "GET":
            if await current_session(request, state) is not None:
                return RedirectResponse("/app", status_code=303, headers=PAGE_HEADERS)
            # a sign-in link this browser opened (/oauth/signin) can sign it in here too
            opened = await signin_links.waiting(state.store, request.cookies.get(LINK_COOKIE))
            return _signin_page(request, state, link_workspace=opened)
        try:
            form = await read_form(request)
        except BadRequestError as exc:
            return _signin_page(request, state, exc.message, 400)
        if not csrf_ok(request.cookies.get(SIGNIN_COOKIE), form.get("csrf")):
            return _signin_page(
                request, state, "The sign-in form was out of date — try again.", 403
            )
        wait = await limiter.retry_after(request)
        if wait:
            return _signin_page(
                request,
                state,
                f"Too many wrong keys from this address — wait {wait} s and try again.",
                429,
                {"retry-after": str(wait)},
            )
        secret = form.get("api_key")
        link = (
            request.cookies.get(LINK_COOKIE, "")
            if form.get("use_link") == "1"
            else signin_links.token_in(secret)
        )
        if link:
            principal = await signin_links.spend(state.store, link)
            if principal is None:
                await limiter.wrong(request)
                return _signin_page(
                    request,
                    state,
                    "That sign-in link has expired or was used already — make a new one with "
                    "clypt-mcp signin-link.",
                    401,
                )
        else:
            try:
                principal = await service.authenticate(secret, scope_client(request.scope, state))
            except IpNotAllowedError as exc:
                return _signin_page(request, state, exc.message, 403)
            except AuthenticationError:
                await limiter.wrong(request)
                # never echo the key: not in the page, the URL or the log
                return _signin_page(
                    request, state, "That API key is not valid (unknown, revoked or expired).", 401
                )
            if principal.key_id is None:
                return _signin_page(request, state, "That API key is not valid.", 401)
        token = await open_session(state, principal)
        response = RedirectResponse("/app", status_code=303, headers=PAGE_HEADERS)
        set_cookie(
            response, request, state, SESSION_COOKIE, token, int(SESSION_LIFETIME.total_seconds())
        )
        response.delete_cookie(SIGNIN_COOKIE, path="/")
        if link:
            response.delete_cookie(LINK_COOKIE, path="/")
        return response

    async def signout(request: Request, session: Session, form: Form | None) -> Response:
        await close_session(state, session.token)
        response = RedirectResponse("/", status_code=303, headers=PAGE_HEADERS)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- links ----------------------------------------------------------------------------

    async def links_page(request: Request, session: Session, form: Form | None) -> Response:
        ClyptService.require(session.principal, Scope.LINKS_READ)
        params = request.query_params
        filters = {k: params.get(k, "")[:300] for k in ("q", "tag", "folder", "status")}
        query = LinkQuery(
            query=filters["q"] or None,
            tag=filters["tag"] or None,
            folder=filters["folder"] or None,
            status=filters["status"] or None,
            cursor=params.get("cursor") or None,
        )
        result = await service.list_links(session.principal, query)
        next_params = {k: v for k, v in filters.items() if v}
        if result.next_cursor:
            next_params["cursor"] = result.next_cursor
        tags, folders = await _tags_and_folders(session)
        return page(
            request,
            "links.html",
            session=session,
            page=result,
            filters=filters,
            statuses=STATUSES,
            tags=tags,
            folders=folders,
            next_url="/app?" + urlencode(next_params),
            notice=_notice(request),
        )

    async def _tags_and_folders(session: Session) -> tuple[list[str], list[str]]:
        p = session.principal
        tags = (
            [t.name for t in (await service.list_tags(p)).tags]
            if session.can(Scope.TAGS_READ)
            else []
        )
        folders = (
            [f.path for f in (await service.list_folders(p)).folders]
            if session.can(Scope.FOLDERS_READ)
            else []
        )
        return tags, folders

    async def new_link(request: Request, session: Session, form: Form | None) -> Response:
        ClyptService.require(session.principal, Scope.LINKS_WRITE)
        return _link_form(request, session, "/app/links", LinkForm(), editing=False)

    async def create_link(request: Request, session: Session, form: Form | None) -> Response:
        assert form is not None
        ClyptService.require(session.principal, Scope.LINKS_WRITE)
        values = LinkForm.from_form(form)
        try:
            data = LinkCreate.model_validate(values.data(editing=False))
            link = await service.create_link(session.principal, data)
        except (ClyptError, ValidationError) as exc:
            message, status = _message(exc)
            return _link_form(
                request, session, "/app/links", values, editing=False, error=message, status=status
            )
        return RedirectResponse(f"/app/links/{link.id}?done=created", status_code=303)

    async def link_page(request: Request, session: Session, form: Form | None) -> Response:
        link = await _link(session, request)
        return await _show_link(request, session, link)

    async def _show_link(
        request: Request, session: Session, link: Link, error: str | None = None
    ) -> Response:
        context = await _analytics_context(request, session, f"/app/links/{link.id}", link=link.id)
        return page(
            request,
            "link.html",
            session=session,
            link=link,
            notice=_notice(request),
            error=error or context.pop("error", None),
            **context,
        )

    async def edit_link(request: Request, session: Session, form: Form | None) -> Response:
        ClyptService.require(session.principal, Scope.LINKS_WRITE)
        link = await _link(session, request)
        action = f"/app/links/{link.id}/edit"
        if form is None:
            return _link_form(request, session, action, LinkForm.from_link(link), editing=True)
        values = LinkForm.from_form(form, has_password=link.has_password)
        try:
            data = LinkUpdate.model_validate(values.data(editing=True))
            await service.update_link(session.principal, link.id, data)
        except (ClyptError, ValidationError) as exc:
            message, status = _message(exc)
            return _link_form(
                request, session, action, values, editing=True, error=message, status=status
            )
        return RedirectResponse(f"/app/links/{link.id}?done=saved", status_code=303)

    async def delete_link(request: Request, session: Session, form: Form | None) -> Response:
        ClyptService.require(session.principal, Scope.LINKS_WRITE)
        link = await _link(session, request)
        await service.delete_link(session.principal, link.id, False)
        return RedirectResponse(f"/app/links/{link.id}?done=deleted", status_code=303)

    async def restore_link(request: Request, session: Session, form: Form | None) -> Response:
        ClyptService.require(session.principal, Scope.LINKS_WRITE)
        link = await _link(session, request)
        await service.update_link(session.principal, link.id, LinkUpdate(deleted=False))
        return RedirectResponse(f"/app/links/{link.id}?done=restored", status_code=303)

    async def qr_code(request: Request, session: Session, form: Form | None) -> Response:
        link = await _link(session, request)
        kind = str(request.path_params["format"])
        if kind not in ("png", "svg"):
            raise NotFoundError(f"no QR code format '{kind[:10]}' — use qr.png or qr.svg")
        image = await anyio.to_thread.run_sync(
            qr.render, link.short_url, 300, 4, "png" if kind == "png" else "svg"
        )
        media = {"png": "image/png", "svg": "image/svg+xml"}[kind]
        headers = {
            "content-disposition": f'attachment; filename="{link.code}.{kind}"',
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
        }
        return Response(image, media_type=media, headers=headers)

    async def _link(session: Session, request: Request) -> Link:
        ClyptService.require(session.principal, Scope.LINKS_READ)
        return await service.get_link(session.principal, str(request.path_params["id"]))

    # --- analytics ------------------------------------------------------------------------

    async def _analytics_context(
        request: Request, session: Session, action: str, **selection: str
    ) -> dict[str, Any]:
        params = request.query_params
        period = params.get("period", "7d")
        interval = params.get("interval", "")
        timezone = params.get("timezone", "UTC")[:64]
        overlay = params.get("previous", "show") != "hide"
        keep = [(k, v) for k, v in selection.items() if k != "link" and v]
        context: dict[str, Any] = {
            "report": None,
            "analytics_action": action,
            "analytics_keep": keep,
            "periods": PERIODS,
            "intervals": INTERVALS,
            "period": period,
            "interval": interval,
            "timezone": timezone,
            "overlay": overlay,
        }
        if not session.can(Scope.ANALYTICS_READ):
            return context
        try:
            query = AnalyticsQuery.model_validate(
                {**selection, "period": period, "interval": interval or None, "timezone": timezone}
            )
            report = await service.get_analytics(session.principal, query)
        except (ClyptError, ValidationError) as exc:
            context["error"] = _message(exc)[0]
            query = AnalyticsQuery.model_validate(selection)
            report = await service.get_analytics(session.principal, query)
            context.update(period="7d", interval="", timezone="UTC")
        context.update(_report_context(report, overlay))
        return context

    async def analytics_page(request: Request, session: Session, form: Form | None) -> Response:
        ClyptService.require(session.principal, Scope.ANALYTICS_READ)
        params = request.query_params
        filters = {k: params.get(k, "")[:300] for k in ("tag", "folder")}
        selection = {k: v for k, v in filters.items() if v}
        context = await _analytics_context(request, session, "/app/analytics", **selection)
        label = (
            f"tag {filters['tag']}"
            if filters["tag"]
            else f"folder {filters['folder']}"
            if filters["folder"]
            else f"workspace {session.principal.workspace_id}"
        )
        tags, folders = await _tags_and_folders(session)
        return page(
            request,
            "analytics.html",
            session=session,
            scope_label=label,
            filters=filters,
            tags=tags,
            folders=folders,
            error=context.pop("error", None),
            **context,
        )

    # --- API keys ---------------------------------------------------------------------------

    async def keys_page(
        request: Request,
        session: Session,
        form: Form | None,
        created: ApiKeyCreated | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        ClyptService.require(session.principal, Scope.KEYS_WRITE)
        keys = await service.list_api_keys(session.principal.workspace_id)
        return page(
            request,
            "keys.html",
            status=status,
            session=session,
            keys=keys,
            created=created,
            error=error,
            notice=_notice(request),
            scopes=sorted(s.value for s in ALL_SCOPES),
            default_scopes=sorted(s.value for s in ALL_SCOPES - {Scope.KEYS_WRITE}),
        )

    async def create_key(request: Request, session: Session, form: Form | None) -> Response:
        assert form is not None
        ClyptService.require(session.principal, Scope.KEYS_WRITE)
        try:
            data = ApiKeyCreate.model_validate(
                {"name": form.get("name"), "scopes": form.all("scope")}
            )
            created = await service.create_api_key_as(session.principal, data)
        except (ClyptError, ValidationError) as exc:
            message, status = _message(exc)
            return await keys_page(request, session, None, error=message, status=status)
        return await keys_page(request, session, None, created=created, status=201)

    async def revoke_key(request: Request, session: Session, form: Form | None) -> Response:
        ClyptService.require(session.principal, Scope.KEYS_WRITE)
        key_id = str(request.path_params["id"])
        await service.revoke_api_key_as(session.principal, key_id)
        if key_id == session.principal.key_id:
            return RedirectResponse("/app/signin", status_code=303)
        return RedirectResponse("/app/keys?done=revoked", status_code=303)

    return [
        Route("/app", signed_in(links_page), methods=["GET", "HEAD"]),
        Route("/app/signin", signin, methods=["GET", "HEAD", "POST"]),
        Route("/app/signout", signed_in(signout, post=True), methods=["POST"]),
        Route("/app/links/new", signed_in(new_link), methods=["GET", "HEAD"]),
        Route("/app/links", signed_in(create_link, post=True), methods=["POST"]),
        Route("/app/links/{id}", signed_in(link_page), methods=["GET", "HEAD"]),
        Route("/app/links/{id}/edit", signed_in(edit_link), methods=["GET", "HEAD"]),
        Route("/app/links/{id}/edit", signed_in(edit_link, post=True), methods=["POST"]),
        Route("/app/links/{id}/delete", signed_in(delete_link, post=True), methods=["POST"]),
        Route("/app/links/{id}/restore", signed_in(restore_link, post=True), methods=["POST"]),
        Route("/app/links/{id}/qr.{format:str}", signed_in(qr_code), methods=["GET", "HEAD"]),
        Route("/app/analytics", signed_in(analytics_page), methods=["GET", "HEAD"]),
        Route("/app/keys", signed_in(keys_page), methods=["GET", "HEAD"]),
        Route("/app/keys", signed_in(create_key, post=True), methods=["POST"]),
        Route("/app/keys/{id}/revoke", signed_in(revoke_key, post=True), methods=["POST"]),
        *organize.routes(service, signed_in),
        Mount("/app/static", StaticFiles(directory=HERE / "static"), name="web-static"),
    ]


def _signin_page(
    request: Request,
    state: AppState,
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    link_workspace: str | None = None,
) -> Response:
    token = request.cookies.get(SIGNIN_COOKIE)
    fresh = not token or len(token) > 200
    if fresh:
        token = secrets.token_urlsafe(24)
    assert token is not None
    response = page(
        request,
        "signin.html",
        status=status,
        headers=headers,
        session=None,
        csrf=csrf_for(token),
        error=error,
        link_workspace=link_workspace,
    )
    if fresh:
        set_cookie(response, request, state, SIGNIN_COOKIE, token, 3600)
    return response


def _error(request: Request, session: Session | None, message: str, status: int) -> Response:
    return page(
        request,
        "error.html",
        status=status,
        session=session,
        heading=_HEADINGS.get(status, "That did not work"),
        error=message,
    )


_HEADINGS = {
    400: "That request could not be read",
    403: "Not allowed",
    404: "Not found",
    409: "That clashes with something that exists",
    422: "That input breaks a rule",
    429: "Too many requests",
    503: "Temporarily unavailable",
    500: "Something went wrong",
}
_NOTICES = {
    "created": "Link created.",
    "saved": "Saved.",
    "deleted": "Link deleted. You can restore it.",
    "restored": "Link restored.",
    "revoked": "Key revoked.",
}


def _notice(request: Request) -> str | None:
    return _NOTICES.get(request.query_params.get("done", ""))


def _status(exc: ClyptError) -> int:
    return exc.status if 400 <= exc.status < 600 else 500


def _message(exc: ClyptError | ValidationError) -> tuple[str, int]:
    if isinstance(exc, ValidationError):
        return describe_validation_error(exc), 422
    if exc.status >= 500 and type(exc) is ClyptError:
        return "Something went wrong — try again.", 500
    return exc.message, _status(exc)


def _link_form(
    request: Request,
    session: Session,
    action: str,
    form: LinkForm,
    *,
    editing: bool,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return page(
        request,
        "link_form.html",
        status=status,
        session=session,
        heading="Edit link" if editing else "Create a link",
        action=action,
        form=form,
        editing=editing,
        error=error,
    )


def _report_context(report: Analytics, overlay: bool = True) -> dict[str, Any]:
    breakdowns = []
    for title, name in BREAKDOWNS:
        rows = getattr(report, name, None)
        if isinstance(rows, list):
            breakdowns.append((title, rows))
    return {
        "report": report,
        "chart_svg": chart.svg(report, f"Clicks per {report.query.interval}", previous=overlay),
        "points": chart.points(report),
        "breakdowns": breakdowns,
    }
