"""Destination URLs: whether one points back at this server (the URL rules: models.py)."""

from __future__ import annotations

from urllib.parse import urlsplit


def points_at(url: str, base_url: str) -> bool:
    """True when `url` is on the host and port of `base_url`: a short link to it would loop."""
    a, b = urlsplit(url), urlsplit(base_url)
    if (a.hostname or "").lower() != (b.hostname or "").lower():
        return False
    return _effective_port(a.scheme, a.port) == _effective_port(b.scheme, b.port)


def _effective_port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else {"http": 80, "https": 443}.get(scheme.lower())
