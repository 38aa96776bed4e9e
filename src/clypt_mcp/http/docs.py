"""The pages for agents and people: `/` and the guides as Markdown, and the icons."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from clypt_mcp.assets import icon_file

MARKDOWN = "text/markdown; charset=utf-8"
DOCS_HEADERS = {"cache-control": "public, max-age=300", "vary": "Accept"}
ICON_HEADERS = {
    "cache-control": "public, max-age=86400",
    "x-content-type-options": "nosniff",
    # An SVG opened on its own runs nothing and loads nothing.
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
}


def wants_markdown(request: Request) -> bool:
    """True when the client asks for Markdown before HTML (`Accept: text/markdown`)."""
    best: tuple[float, str] | None = None
    for part in request.headers.get("accept", "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media not in ("text/markdown", "text/x-markdown", "text/plain", "text/html"):
            continue
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if best is None or q > best[0]:
            best = (q, media)
    return best is not None and best[1] in ("text/markdown", "text/x-markdown") and best[0] > 0


def markdown(text: Callable[[], str]) -> Callable[[Request], Awaitable[Response]]:
    """A page answering `text()` as Markdown."""

    async def page(request: Request) -> Response:
        return PlainTextResponse(text(), media_type=MARKDOWN, headers=DOCS_HEADERS)

    return page


async def icon(request: Request) -> Response:
    found = icon_file(str(request.path_params["filename"]))
    if found is None:
        return PlainTextResponse("no such icon", status_code=404)
    data, media = found
    return Response(data, media_type=media, headers=ICON_HEADERS)
