"""Short codes: the custom-code rules, reserved words, and the random generator."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
GENERATED_LENGTH = 7
CODE_PATTERN = r"^[A-Za-z0-9_-]{3,64}$"
_CODE_RE = re.compile(CODE_PATTERN)

# Paths the HTTP app serves itself; a short code may not shadow them (compared case-insensitively).
RESERVED_CODES = frozenset(
    {
        "api",
        "mcp",
        "sse",
        "messages",
        "llms.txt",
        "llms",
        "healthz",
        "internal",  # /internal/tls-allowed, the TLS proxy's question
        "health",
        "static",
        "admin",
        "assets",
        "favicon.ico",
        "robots.txt",
        "openapi.json",
        "docs",
        "login",
        "logout",
        "settings",
        "keys",
        "well-known",
        ".well-known",
        "www",
        "app",
        "dashboard",
        "icons",
        # the OAuth authorization server's paths, and those OAuth clients fall back to
        "authorize",
        "token",
        "register",
        "revoke",
        "oauth",
        "robots",
        "favicon",
        "openapi",
        "signin",
        "callback",
    }
)

CodeGenerator = Callable[[], str]


def random_code(length: int = GENERATED_LENGTH) -> str:
    """A code of `length` base62 characters from the OS's CSPRNG."""
    return "".join(secrets.choice(BASE62) for _ in range(length))


def check_custom_code(code: str) -> str:
    """Return `code` when it is a valid custom code.

    Raises:
        ValueError: with the rule that `code` breaks.
    """
    if not _CODE_RE.match(code):
        raise ValueError(
            "must be 3-64 characters of letters, digits, '-' or '_' "
            f"(got {len(code)} characters{_first_bad_char(code)})"
        )
    if code.lower() in RESERVED_CODES:
        raise ValueError(f"'{code}' is reserved by Clypt — pick another or omit code")
    return code


def _first_bad_char(code: str) -> str:
    for ch in code:
        if not (ch.isascii() and (ch.isalnum() or ch in "-_")):
            return f", {ch!r} is not allowed"
    return ""
