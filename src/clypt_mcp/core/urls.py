"""Destination URLs: what a short link may point at."""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048


def check_destination(url: str) -> str:
    """Return `url` when it is an absolute http(s) URL a short link may redirect to.

    Raises:
        ValueError: with the rule that `url` breaks.
    """
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters (got {len(url)})")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValueError("must not contain spaces, line breaks or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"'{scheme}:'" if scheme else "none"
        raise ValueError(
            f"must be an absolute http:// or https:// URL (scheme {shown} is not allowed)"
        )
    if not parts.hostname:
        raise ValueError("must include a host name, like https://example.com/page")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password before the host ('user@host')")
    if port == 0:
        raise ValueError("must not use port 0")
    return url


def points_at(url: str, base_url: str) -> bool:
    """True when `url` is on the host and port of `base_url`: a short link to it would loop."""
    a, b = urlsplit(url), urlsplit(base_url)
    if (a.hostname or "").lower() != (b.hostname or "").lower():
        return False
    return _effective_port(a.scheme, a.port) == _effective_port(b.scheme, b.port)


def _effective_port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else {"http": 80, "https": 443}.get(scheme.lower())
