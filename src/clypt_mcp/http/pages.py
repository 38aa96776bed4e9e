"""The small HTML pages short links answer with when they do not redirect.

Everything shown is HTML-escaped; host names are shown in punycode, so a look-alike
internationalised name cannot pass for another. Pages are never cached, cannot be framed and
load nothing: one inline style, no scripts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse

from clypt_mcp.core.redirects import CompiledLink, Reason, ascii_host

PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
background:#f6f8fa;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border:1px solid #d0d7de;border-radius:12px;padding:2rem 2.5rem;
max-width:28rem;margin:1rem}
h1{font-size:1.35rem;margin:0 0 .75rem}p{margin:.5rem 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;background:#f6f8fa;
padding:.1rem .3rem;border-radius:4px;word-break:break-all}
.error{color:#cf222e}.muted{color:#656d76;font-size:.875rem}
input{font:inherit;padding:.45rem .6rem;border:1px solid #d0d7de;border-radius:6px;width:100%;
box-sizing:border-box;margin:.25rem 0 .75rem}
button{font:inherit;padding:.45rem 1rem;border:0;border-radius:6px;background:#1f883d;
color:#fff;cursor:pointer}
"""
_REASONS: dict[Reason, tuple[str, str]] = {
    "deleted": ("This link was deleted", "Its owner deleted it, so it no longer leads anywhere."),
    "disabled": ("This link is turned off", "Its owner has disabled it for now."),
    "scheduled": ("This link is not active yet", "It starts working {starts_at}."),
    "expired": ("This link has expired", "It stopped working {expires_at}."),
    "click_limit": (
        "This link has reached its click limit",
        "It was set to work a limited number of times, and it has been used up.",
    ),
}


def short_label(base_url: str, code: str) -> str:
    """`host[:port]/code` for display, with the host in punycode."""
    parts = urlsplit(base_url)
    host = ascii_host(parts.hostname or "")
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/")
    return f"{host}{path}/{code[:64]}"


def render(
    title: str, body: str, status: int, headers: dict[str, str] | None = None, head: str = ""
) -> HTMLResponse:
    """A whole page; `title` is escaped here, `body` and `head` must already be safe HTML."""
    html = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"{head}<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>\n"
    )
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def not_found(short: str) -> HTMLResponse:
    body = (
        f"<p>There is no short link at <code>{escape(short)}</code>.</p>"
        '<p class="muted">Check the address for typos: short links are case-sensitive.</p>'
    )
    return render("Link not found", body, 404)


def unknown_host() -> HTMLResponse:
    """A host this server does not serve: a plain 404 that names nothing of anyone's."""
    return render("Not found", "<p>Nothing is served at this address.</p>", 404)


def unavailable(short: str, link: CompiledLink, reason: Reason) -> HTMLResponse:
    title, text = _REASONS[reason]
    text = text.format(starts_at=_when(link.starts_at), expires_at=_when(link.expires_at))
    body = f"<p><code>{escape(short)}</code></p><p>{escape(text)}</p>"
    return render(title, body, 410)


def password_form(short: str, wrong: bool, token: str = "", expired: bool = False) -> HTMLResponse:
    """The form; `token` goes back with the password (the CSRF check). A wrong password, and a
    post without this browser's token (`expired`), answer 403 with the form again."""
    error = '<p class="error" role="alert">That password is not right. Try again.</p>'
    stale = (
        '<p class="error" role="alert">This form has expired or was not sent from this page. '
        "Enter the password again.</p>"
    )
    body = (
        f"<p><code>{escape(short)}</code> is protected. Enter its password to continue.</p>"
        f"{stale if expired else error if wrong else ''}"
        '<form method="post"><label for="password">Password</label>'
        f'<input type="hidden" name="csrf" value="{escape(token)}">'
        '<input id="password" name="password" type="password" required autofocus '
        'maxlength="200" autocomplete="off"><button type="submit">Continue</button></form>'
    )
    # The form posts here, and the right password answers with a redirect to the destination,
    # which is another origin: browsers check form-action along that redirect too.
    csp = PAGE_HEADERS["content-security-policy"].replace(
        "form-action 'self'", "form-action 'self' http: https:"
    )
    # The post carries this page's origin (under no-referrer it would be `null`); the 303 to
    # the destination, another origin, still carries no Referer.
    headers = {"content-security-policy": csp, "referrer-policy": "same-origin"}
    return render("Password required", body, 403 if wrong or expired else 200, headers)


def cross_site(short: str) -> HTMLResponse:
    """A password post from a page of another site: refused before anything is checked."""
    body = (
        f"<p>The password for <code>{escape(short)}</code> was sent from another site. "
        "Open the short link itself and enter the password there.</p>"
    )
    return render("Not allowed", body, 403)


def limit_unchecked(short: str, retry_after: int = 5) -> HTMLResponse:
    """A `max_clicks` link while its count cannot be taken: no redirect, so the limit holds."""
    body = (
        f"<p><code>{escape(short)}</code> opens a limited number of times, and its count "
        "cannot be checked right now. Try again in a moment.</p>"
    )
    return render("Temporarily unavailable", body, 503, {"retry-after": str(retry_after)})


def busy(short: str, retry_after: int) -> HTMLResponse:
    body = (
        f"<p>Too many passwords are being checked right now; <code>{escape(short)}</code> "
        f"was not checked. Wait {retry_after} seconds and try again.</p>"
    )
    return render("Busy", body, 503, {"retry-after": str(retry_after)})


def neutral(short: str) -> HTMLResponse:
    """What unfurlers, assistant fetches and crawlers get from a single-use or password link:
    a plain card that names the short link and nothing behind it."""
    body = f"<p><code>{escape(short)}</code></p><p>Open this link in a browser to continue.</p>"
    head = (
        '<meta property="og:title" content="Shared link">'
        f'<meta property="og:description" content="{escape(short)}">'
    )
    return render("Shared link", body, 200, head=head)


def card(short_url: str, title: str, description: str | None, image: str | None) -> HTMLResponse:
    """A link's own social card, for unfurlers: Open Graph and Twitter Card tags with the
    canonical short URL; every value is escaped (quotes too), so text stays text."""
    tags = [("og:type", "website"), ("og:url", short_url), ("og:title", title)]
    tags += [("twitter:card", "summary_large_image" if image else "summary")]
    tags += [("twitter:title", title)]
    if description:
        tags += [("og:description", description), ("twitter:description", description)]
    if image:
        tags += [("og:image", image), ("twitter:image", image)]
    head = "".join(
        f'<meta {"name" if name.startswith("twitter:") else "property"}="{name}" '
        f'content="{escape(value, quote=True)}">'
        for name, value in tags
    )
    head += f'<link rel="canonical" href="{escape(short_url, quote=True)}">'
    body = f"<p>{escape(description)}</p>" if description else ""
    body += f'<p><a href="{escape(short_url, quote=True)}">{escape(short_url)}</a></p>'
    return render(title, body, 200, head=head)


def too_many_tries(short: str, retry_after: int) -> HTMLResponse:
    body = (
        f"<p>Too many wrong passwords for <code>{escape(short)}</code>.</p>"
        f"<p>Wait {retry_after} second{'s' if retry_after != 1 else ''} and try again.</p>"
    )
    return render("Too many tries", body, 429, {"retry-after": str(retry_after)})


def too_many_unknown(retry_after: int) -> HTMLResponse:
    body = (
        "<p>Too many short links that do not exist were asked for from your address.</p>"
        f"<p>Wait {retry_after} second{'s' if retry_after != 1 else ''} and try again.</p>"
    )
    return render("Too many requests", body, 429, {"retry-after": str(retry_after)})


def server_error(status: int = 500) -> HTMLResponse:
    if status == 503:
        body = "<p>This short link cannot be looked up right now. Try again in a moment.</p>"
        return render("Temporarily unavailable", body, 503, {"retry-after": "5"})
    return render("Something went wrong", "<p>Try again in a moment.</p>", status)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "at a set time"
    return "on " + moment.astimezone(UTC).strftime("%Y-%m-%d at %H:%M UTC")
