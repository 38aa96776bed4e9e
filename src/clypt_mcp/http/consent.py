"""The consent page: a person approves an assistant's access to one workspace.

There are no user accounts. The person proves they may speak for a workspace with an API key of
it (pasted into the form, checked, never stored or sent back to the browser) or with a one-time
sign-in link from `clypt-mcp signin-link`: opened in this browser it leaves a short-lived cookie
so the page asks for no key, or it can be pasted whole into the key field. The grant takes the
ticked scopes, at most those of the key or link.

The page is a plain HTML form (no script): CSRF-protected by a double-submit token (a random
value in an HttpOnly SameSite=Strict cookie and in a hidden field), never framed, under a CSP
whose `form-action` allows only this server and the client's redirect target. Wrong keys are
counted per client address like wrong link passwords: 5 a minute, then 429 for the rest of it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Callable
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mcp.server.auth.provider import AuthorizationParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from clypt_mcp.errors import AuthenticationError, ClyptError, IpNotAllowedError
from clypt_mcp.http.oauth import (
    SCOPE_NAMES,
    SIGNIN_SECONDS,
    ClyptClient,
    ClyptOAuthProvider,
    Handler,
    Limits,
    Session,
    client_address,
    per_address,
)
from clypt_mcp.http.oauth_names import SIGNIN_PREFIX, digest
from clypt_mcp.http.state import AppState
from clypt_mcp.models import Scope, expand_scopes
from clypt_mcp.store.base import Store

log = logging.getLogger(__name__)

PASSWORD_TRIES = 5  # wrong keys allowed per client address ...
PASSWORD_WINDOW = 60  # ... in this many seconds

CSRF_COOKIE = "clypt_csrf"
SIGNIN_COOKIE = "clypt_signin"
MAX_CONSENT_FORM = 8 * 1024
SCOPE_TEXT = {
    "links:read": "see your links",
    "links:write": "create and change links",
    "links:delete": "delete links",
    "analytics:read": "see click analytics",
    "tags:read": "see tags",
    "tags:write": "create and change tags",
    "folders:read": "see folders",
    "folders:write": "create and change folders",
    "domains:read": "see custom domains",
    "domains:write": "add, verify and remove custom domains",
    "keys:write": "manage API keys and connected apps",
}
_STYLE = """body{font:16px/1.5 system-ui,sans-serif;color:#1f2328;background:#f6f8fa;margin:0;
display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border:1px solid #d0d7de;border-radius:12px;padding:2rem 2.5rem;
max-width:32rem;margin:1rem}h1{font-size:1.35rem;margin:0 0 .75rem}
code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px;word-break:break-all}
.error{color:#cf222e}.muted{color:#656d76;font-size:.875rem}label{display:block;margin:.3rem 0}
input[type=password]{font:inherit;padding:.45rem .6rem;border:1px solid #d0d7de;border-radius:6px;
width:100%;box-sizing:border-box;margin:.25rem 0 .75rem}
button{font:inherit;padding:.45rem 1rem;border:0;border-radius:6px;background:#1f883d;color:#fff;
margin-right:.5rem}button.deny{background:#6e7781}"""


def _redirect_origin(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"


def _headers(redirect_uri: str | None = None) -> dict[str, str]:
    actions = "'self'" + (f" {_redirect_origin(redirect_uri)}" if redirect_uri else "")
    return {
        "cache-control": "no-store",
        "content-security-policy": (
            "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; "
            f"form-action {actions}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
    }


def _page(title: str, body: str, status: int = 200, redirect_uri: str | None = None) -> Response:
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_headers(redirect_uri))


def error_page(message: str, status: int = 400) -> Response:
    return _page("Cannot connect this app", f"<p class=error>{escape(message)}</p>", status)


def with_params(uri: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


class TryLimiter:
    """Counts wrong keys per (purpose, client) in this process, in windows that start at a
    key's first wrong try."""

    def __init__(
        self,
        limit: int = PASSWORD_TRIES,
        window: int = PASSWORD_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._tries: dict[tuple[str, str], tuple[float, int]] = {}

    async def retry_after(self, key: tuple[str, str]) -> int:
        """Seconds until `key` may try again; 0 when it may now."""
        start, used = self._tries.get(key, (0.0, 0))
        left = start + self.window - self.clock()
        if left <= 0:
            self._tries.pop(key, None)
            return 0
        return math.ceil(left) if used >= self.limit else 0

    async def wrong(self, key: tuple[str, str]) -> None:
        now = self.clock()
        start, used = self._tries.get(key, (now, 0))
        if start + self.window <= now:
            start, used = now, 0
        self._tries[key] = (start, used + 1)
        if len(self._tries) > 10_000:
            for k in [k for k, (s, _) in self._tries.items() if s + self.window <= now]:
                del self._tries[k]


class StoreTryLimiter:
    """Counts wrong keys per (purpose, client) in the store (`Store.count_request`), in
    epoch-aligned windows, so every process on the database draws on one budget per client.

    The counter's key is a keyed hash of code and client (keyed with the visitor-hash secret):
    the table never holds a client's address.
    """

    def __init__(
        self,
        store: Store,
        limit: int = PASSWORD_TRIES,
        window: int = PASSWORD_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.limit = limit
        self.window = window
        self.clock = clock
        self._secret: bytes | None = None

    async def _key(self, key: tuple[str, str]) -> str:
        if self._secret is None:
            self._secret = await self.store.visitor_secret()
        digest = hashlib.blake2b("\0".join(key).encode(), key=self._secret[:64], digest_size=16)
        return "password:" + digest.hexdigest()

    def _window(self) -> tuple[float, int]:
        now = self.clock()
        return now, int(now // self.window) * self.window

    async def retry_after(self, key: tuple[str, str]) -> int:
        """Seconds until `key` may try again; 0 when it may now."""
        now, start = self._window()
        used = await self.store.request_count(await self._key(key), start)
        return max(1, math.ceil(start + self.window - now)) if used >= self.limit else 0

    async def wrong(self, key: tuple[str, str]) -> None:
        _, start = self._window()
        await self.store.count_request(await self._key(key), start, self.limit)


def routes(state: AppState, provider: ClyptOAuthProvider, limits: Limits) -> list[Route]:
    from clypt_mcp.http.ratelimit import StoreRateLimiter

    tries: TryLimiter | StoreTryLimiter = (
        StoreTryLimiter(state.store)
        if isinstance(state.limiter, StoreRateLimiter)
        else TryLimiter()
    )
    secure = provider.issuer.startswith("https://")

    async def signin_session(token: str) -> Session | None:
        found = await provider.store.peek_signin(digest(token), provider.now_us())
        if found is None:
            return None
        return Session(workspace_id=found[0], scopes=frozenset(found[1]), key_id=None)

    def form(
        handle: str,
        client: ClyptClient,
        params: AuthorizationParams,
        csrf: str,
        session: Session | None,
        error: str | None = None,
    ) -> str:
        redirect = urlsplit(str(params.redirect_uri))
        host = redirect.hostname or redirect.scheme
        name = client.client_name or host
        asked = params.scopes or SCOPE_NAMES
        boxes = "".join(
            f'<label><input type="checkbox" name="scope" value="{escape(s)}" checked> '
            f"<code>{escape(s)}</code> {escape(SCOPE_TEXT.get(s, ''))}</label>"
            for s in asked
        )
        if session is not None:
            who = (
                f"<p>Signed in with a sign-in link to workspace "
                f"<strong>{escape(session.workspace_id)}</strong>.</p>"
            )
            key_field = ""
        else:
            who = (
                "<p>Sign in with an API key of the workspace to connect (it is checked and not "
                "kept), or paste a link from <code>clypt-mcp signin-link</code>.</p>"
            )
            key_field = (
                '<label for=key>API key or sign-in link</label><input type="password" id=key '
                'name="key" autocomplete="off" required>'
            )
        problem = f"<p class=error>{escape(error)}</p>" if error else ""
        return (
            f"<p><strong>{escape(name)}</strong> wants to use Clypt for you.</p>"
            f"<p class=muted>After you answer, your browser goes to <code>{escape(host)}</code>."
            f"</p>{who}{problem}"
            f'<form method="post" action="/oauth/consent">'
            f'<input type="hidden" name="request" value="{escape(handle)}">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            f"{key_field}<fieldset><legend>Allow it to</legend>{boxes}</fieldset><p>"
            '<button type="submit" name="action" value="approve">Allow</button>'
            '<button type="submit" name="action" value="deny" class=deny formnovalidate>'
            "Deny</button></p></form>"
        )

    def render(
        handle: str,
        client: ClyptClient,
        params: AuthorizationParams,
        session: Session | None,
        csrf: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        csrf = csrf or secrets.token_urlsafe(24)
        response = _page(
            "Connect an app to Clypt",
            form(handle, client, params, csrf, session, error),
            status,
            str(params.redirect_uri),
        )
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            max_age=600,
            path="/oauth",
            httponly=True,
            samesite="strict",
            secure=secure,
        )
        return response

    async def consent_get(request: Request) -> Response:
        handle = request.query_params.get("request", "")
        found = await provider.pending(handle) if handle else None
        if found is None:
            return error_page(
                "This request has expired or was answered already — start connecting again "
                "from your assistant.",
                404,
            )
        client, params = found
        cookie = request.cookies.get(SIGNIN_COOKIE)
        session = await signin_session(cookie) if cookie else None
        return render(handle, client, params, session)

    async def consent_post(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > MAX_CONSENT_FORM:
            return error_page("The form is too large or has no length.", 413)
        data = await request.form()
        handle = str(data.get("request") or "")
        found = await provider.pending(handle) if handle else None
        if found is None:
            return error_page(
                "This request has expired or was answered already — start connecting again "
                "from your assistant.",
                404,
            )
        client, params = found
        redirect_uri = str(params.redirect_uri)
        csrf_form = str(data.get("csrf") or "")
        csrf_cookie = request.cookies.get(CSRF_COOKIE, "")
        if len(csrf_form) < 16 or not hmac.compare_digest(csrf_form, csrf_cookie):
            return error_page("The form expired or came from another site — reload the page.", 403)
        if data.get("action") == "deny":
            if await provider.deny(handle):
                return RedirectResponse(
                    with_params(
                        redirect_uri,
                        {"error": "access_denied", "state": params.state, "iss": provider.issuer},
                    ),
                    303,
                    headers=_headers(redirect_uri),
                )
            return error_page("This request was answered already.", 409)
        address = client_address(request, state)
        cookie = request.cookies.get(SIGNIN_COOKIE)
        session = await signin_session(cookie) if cookie else None
        signin_token: str | None = cookie if session is not None else None
        if session is None:
            wait = await tries.retry_after(("oauth-consent", address))
            if wait:
                response = error_page(f"Too many wrong keys — try again in {wait} s.", 429)
                response.headers["retry-after"] = str(wait)
                return response
            secret = str(data.get("key") or "").strip()
            if SIGNIN_PREFIX in secret:
                signin_token = SIGNIN_PREFIX + secret.split(SIGNIN_PREFIX, 1)[1].split("&")[0]
                session = await signin_session(signin_token)
            else:
                try:
                    principal = await state.service.authenticate(secret, address)
                    session = Session(
                        workspace_id=principal.workspace_id,
                        scopes=frozenset(s.value for s in expand_scopes(principal.scopes)),
                        key_id=principal.key_id,
                    )
                except AuthenticationError:
                    session = None
                except IpNotAllowedError as exc:
                    return error_page(exc.message, 403)
                except ClyptError as exc:
                    return error_page(exc.message, 503)
            if session is None:
                await tries.wrong(("oauth-consent", address))
                return render(
                    handle,
                    client,
                    params,
                    None,
                    csrf_cookie,
                    "That key or sign-in link is not valid (or was used already).",
                    401,
                )
        ticked = [s for s in data.getlist("scope") if isinstance(s, str)]
        asked = params.scopes or SCOPE_NAMES
        allowed = expand_scopes(frozenset(Scope(s) for s in session.scopes if s in SCOPE_NAMES))
        granted = [s for s in asked if s in ticked and Scope(s) in allowed]
        if not granted:
            return render(
                handle,
                client,
                params,
                session if signin_token else None,
                csrf_cookie,
                "Tick at least one permission that your key or link has.",
                400,
            )
        if signin_token is not None and not await provider.store.use_signin(
            digest(signin_token), provider.now_us()
        ):
            return error_page("This sign-in link was used already.", 401)
        code = await provider.approve(handle, client, params, session, granted)
        if code is None:
            return error_page("This request was answered already.", 409)
        response = RedirectResponse(
            with_params(
                redirect_uri, {"code": code, "state": params.state, "iss": provider.issuer}
            ),
            303,
            headers=_headers(redirect_uri),
        )
        response.delete_cookie(SIGNIN_COOKIE, path="/")
        return response

    async def signin(request: Request) -> Response:
        token = request.query_params.get("token", "")
        session = await signin_session(token) if token.startswith(SIGNIN_PREFIX) else None
        if session is None:
            return error_page("This sign-in link has expired or was used already.", 404)
        response = _page(
            "Signed in",
            f"<p>This browser may now approve apps for workspace "
            f"<strong>{escape(session.workspace_id)}</strong> for the next few minutes. Go back "
            "to the page that asked you to connect and reload it.</p>"
            '<p>Or <a href="/app/signin">sign in to the dashboard</a> with this link.</p>',
        )
        response.set_cookie(
            SIGNIN_COOKIE,
            token,
            max_age=SIGNIN_SECONDS,
            path="/",
            httponly=True,
            samesite="lax",
            secure=secure,
        )
        return response

    def limited(handler: Handler) -> Handler:
        return per_address(state, limits.requests, handler)

    return [
        Route("/oauth/consent", limited(consent_get), methods=["GET"]),
        Route("/oauth/consent", limited(consent_post), methods=["POST"]),
        Route("/oauth/signin", limited(signin), methods=["GET"]),
    ]
