"""What every page of the home page and the dashboard shares: templates, headers, sessions, CSRF.

Sessions live on the server (table `web_sessions`, see clypt_mcp.store.web_sessions): the
browser holds a random token in an HttpOnly, SameSite=Lax cookie (Secure behind TLS), the
store keeps its SHA-256. Each request looks the session's API key up again, so a revoked or
expired key ends the session at once, and acts with that key's scopes. A session opened with a
one-time sign-in link (`clypt-mcp signin-link`) acts with the link's scopes until it ends.

CSRF tokens are derived from the session token (or, before sign-in, from a short-lived cookie of
their own), so a form's token is good only with the cookie it was made for.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from clypt_mcp.http.state import AppState
from clypt_mcp.models import Principal, Scope, expand_scopes
from clypt_mcp.store.base import to_us

if TYPE_CHECKING:
    from jinja2 import Environment

HERE = Path(__file__).parent
SESSION_COOKIE = "clypt_session"
SIGNIN_COOKIE = "clypt_form"  # before sign-in: what the sign-in form's CSRF token is bound to
LINK_COOKIE = "clypt_signin"  # left by /oauth/signin: a sign-in link this browser opened
# A session opened with a one-time sign-in link has no API key: web_sessions.key_id then holds
# this prefix and the link's scopes ("link:links:read links:write"); key ids never start so.
LINK_KEY = "link:"
LINK_SESSION_NAME = "a one-time sign-in link"
SESSION_LIFETIME = timedelta(hours=12)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@cache
def environment() -> Environment:
    """The Jinja2 templates, every value HTML-escaped unless marked safe (imported lazily)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def page(
    request: Request,
    template: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("notice", None)
    context.setdefault("error", None)
    context.setdefault("session", None)
    html = environment().get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def is_https(request: Request, state: AppState) -> bool:
    return request.url.scheme == "https" or state.service.base_url.startswith("https://")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def csrf_for(token: str) -> str:
    """The CSRF token of the forms shown to the holder of cookie value `token`."""
    return hmac.new(token.encode(), b"clypt dashboard form", hashlib.sha256).hexdigest()


def csrf_ok(expected_from: str | None, given: Any) -> bool:
    if not expected_from or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(csrf_for(expected_from), given)


def set_cookie(
    response: Response, request: Request, state: AppState, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request, state),
    )


@dataclass(frozen=True)
class Session:
    """A signed-in browser: the token from its cookie and the key it acts with."""

    token: str
    principal: Principal
    key_name: str

    @property
    def csrf(self) -> str:
        return csrf_for(self.token)

    def can(self, scope: Scope) -> bool:
        return scope in expand_scopes(self.principal.scopes)


async def open_session(state: AppState, principal: Principal) -> str:
    """A new session for `principal` (signed in with an API key, or with a sign-in link when
    it has no key id); returns the cookie value."""
    token = secrets.token_urlsafe(32)
    now = state.service.clock()
    key_ref = principal.key_id
    if key_ref is None:
        key_ref = LINK_KEY + " ".join(sorted(s.value for s in principal.scopes))
    await state.store.web_sessions.purge(to_us(now) or 0)
    await state.store.web_sessions.create(
        _digest(token),
        principal.workspace_id,
        key_ref,
        to_us(now) or 0,
        to_us(now + SESSION_LIFETIME) or 0,
    )
    return token


async def close_session(state: AppState, token: str) -> None:
    await state.store.web_sessions.delete(_digest(token))


async def current_session(request: Request, state: AppState) -> Session | None:
    """The session of this request's cookie, if it is live and its key still valid."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    now = state.service.clock()
    row = await state.store.web_sessions.find(_digest(token), to_us(now) or 0)
    if row is None:
        return None
    if row.key_id.startswith(LINK_KEY):
        names = row.key_id.removeprefix(LINK_KEY).split()
        scopes = frozenset(Scope(n) for n in names if n in Scope._value2member_map_)
        principal = Principal(workspace_id=row.workspace_id, key_id=None, scopes=scopes)
        return Session(token=token, principal=principal, key_name=LINK_SESSION_NAME)
    for key in await state.service.list_api_keys(row.workspace_id):
        if key.id != row.key_id:
            continue
        if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
            break
        principal = Principal(
            workspace_id=row.workspace_id, key_id=key.id, scopes=frozenset(key.scopes)
        )
        return Session(token=token, principal=principal, key_name=key.name)
    await close_session(state, token)  # its key is gone: the session ends with it
    return None


def to_signin() -> RedirectResponse:
    return RedirectResponse("/app/signin", status_code=303, headers=PAGE_HEADERS)


SIGNIN_TRIES = 5  # wrong keys a client address may try per window
SIGNIN_WINDOW = 60  # seconds


class SigninLimiter:
    """Wrong API keys at sign-in, counted per client address in the store, so every process
    on the database shares the budget: SIGNIN_TRIES a minute, then every try (even the right
    key) waits for the window to end. The counter's key is a keyed hash of the address: the
    table never holds it."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self._secret: bytes | None = None

    async def _key(self, request: Request) -> str:
        from clypt_mcp.core.visitors import client_ip

        address = client_ip(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
            self.state.settings.trusted_proxies,
        )
        if self._secret is None:
            self._secret = await self.state.store.visitor_secret()
        digest = hashlib.blake2b(
            f"dashboard-signin\0{address}".encode(), key=self._secret[:64], digest_size=16
        )
        return "signin:" + digest.hexdigest()

    def _window(self) -> tuple[float, int]:
        now = time.time()
        return now, int(now // SIGNIN_WINDOW) * SIGNIN_WINDOW

    async def retry_after(self, request: Request) -> int:
        """Seconds this client must wait before trying a key; 0 when it may try now."""
        now, start = self._window()
        used = await self.state.store.request_count(await self._key(request), start)
        return max(1, math.ceil(start + SIGNIN_WINDOW - now)) if used >= SIGNIN_TRIES else 0

    async def wrong(self, request: Request) -> None:
        _, start = self._window()
        await self.state.store.count_request(await self._key(request), start, SIGNIN_TRIES)
