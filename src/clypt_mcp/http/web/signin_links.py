"""Signing a browser in to the dashboard with a one-time sign-in link (`clypt-mcp signin-link`).

The link is the one the consent page takes (`/oauth/signin?token=clypt_sil_…`): opened in the
browser it leaves a cookie, and the dashboard's sign-in page then offers "Sign in with the
link"; or the link is pasted whole into the "API key" field. Either way the link is spent (a
second use does nothing) and the session acts with the link's workspace and scopes.
"""

from __future__ import annotations

import time

from clypt_mcp.http.oauth_names import SIGNIN_PREFIX, digest
from clypt_mcp.models import Principal, Scope
from clypt_mcp.store.base import Store

MAX_TOKEN = 200


def token_in(text: str) -> str:
    """The sign-in token in a pasted link (or a bare token), or "" when there is none."""
    if SIGNIN_PREFIX not in text:
        return ""
    rest = text.split(SIGNIN_PREFIX, 1)[1]
    for stop in "&#? \t":
        rest = rest.split(stop, 1)[0]
    token = SIGNIN_PREFIX + rest
    return token if len(token) <= MAX_TOKEN else ""


def _now_us() -> int:
    return int(time.time() * 1_000_000)  # the links' own clock (clypt_mcp.http.oauth)


async def waiting(store: Store, cookie: str | None) -> str | None:
    """The workspace of the unused, unexpired link in `cookie`, if any."""
    if not cookie or not cookie.startswith(SIGNIN_PREFIX) or len(cookie) > MAX_TOKEN:
        return None
    found = await store.oauth.peek_signin(digest(cookie), _now_us())
    return found[0] if found else None


async def spend(store: Store, token: str) -> Principal | None:
    """Use the link once: who it signs in, or None when it is unknown, used or expired."""
    found = await store.oauth.use_signin(digest(token), _now_us())
    if found is None:
        return None
    workspace, names = found
    scopes = frozenset(Scope(n) for n in names if n in Scope._value2member_map_)
    return Principal(workspace_id=workspace, key_id=None, scopes=scopes)
