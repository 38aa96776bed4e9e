"""Does a `clypt-mcp serve` answer at CLYPT_BASE_URL? The stdio server asks once, in the
background, and logs a warning when not: links it makes would lead nowhere.

Runs in a worker thread after start-up (httpx2 is imported there), so it never delays the MCP
handshake; it makes at most two requests, each with a short timeout.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx2  # noqa: TID251 (the one probe of serve)

log = logging.getLogger(__name__)

TIMEOUT = 3.0  # seconds per request
HELP = (
    "short links resolve only where `clypt-mcp serve` runs at CLYPT_BASE_URL on the same "
    "database: run `clypt-mcp serve` there (or on this machine, with CLYPT_BASE_URL="
    "http://127.0.0.1:8080), or connect to your team's server in remote mode (CLYPT_API_URL "
    "and CLYPT_API_KEY) — see the README, 'Use it from a desktop assistant'"
)


def problem(base: str, code: str | None) -> str | None:
    """Why `base` does not serve this database's links, or None when it does.

    `code`: a link of this database, looked up at `base` to tell a `serve` on another
    database from one on this.
    """
    import httpx2  # noqa: TID251 (the one probe of serve)

    try:
        with httpx2.Client(timeout=TIMEOUT, follow_redirects=False) as http:
            index = http.get(f"{base}/api/v1")
            if not _is_clypt(index):
                return f"{base} answers, but not as `clypt-mcp serve`"
            if code is None:
                return None
            if http.head(f"{base}/{code}").status_code == 404:
                return (
                    f"the `clypt-mcp serve` at {base} does not know link '{code}', so it uses "
                    "another database"
                )
    except httpx2.HTTPError as exc:
        return f"nothing answers at {base} ({type(exc).__name__})"
    return None


def _is_clypt(response: httpx2.Response) -> bool:
    if response.status_code != 200:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("name") == "Clypt REST API"


def warn_if_unserved(base: str, code: str | None) -> None:
    """Log one warning when `base` does not serve this database's links."""
    found = problem(base, code)
    if found is not None:
        log.warning("CLYPT_BASE_URL: %s; %s", found, HELP)
    else:
        log.debug("CLYPT_BASE_URL: %s is served by clypt-mcp serve on this database", base)
