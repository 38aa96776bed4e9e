"""QR codes for short URLs: segno makes the symbol; we frame it at the exact size asked."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Literal

from clypt_mcp.errors import InvalidInputError

MIN_SIZE, MAX_SIZE = 64, 2048
QrFormat = Literal["png", "svg"]


QR_QUERY = "qr=1"  # marks a visit through the QR code; the redirect never passes it on


def qr_url(short_url: str) -> str:
    """The URL a link's QR code encodes: its short URL with the QR marker."""
    return f"{short_url}?{QR_QUERY}"


def _matrix(data: str, margin: int) -> list[list[bool]]:
    import segno  # imported on first use: keeps the MCP server's start fast

    qr = segno.make(data, error="m", micro=False)
    rows = [[bool(v) for v in row] for row in qr.matrix]
    width = len(rows[0]) + 2 * margin
    blank = [False] * width
    body = [[False] * margin + row + [False] * margin for row in rows]
    return [blank[:] for _ in range(margin)] + body + [blank[:] for _ in range(margin)]


def render(data: str, size: int = 300, margin: int = 4, fmt: QrFormat = "png") -> bytes:
    """A QR code of `data`, `size` pixels square, with a quiet zone of `margin` modules.

    Raises:
        InvalidInputError: when the size cannot hold the code with that margin.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise InvalidInputError(f"size: must be {MIN_SIZE}-{MAX_SIZE} pixels (got {size})")
    if not 0 <= margin <= 16:
        raise InvalidInputError(f"margin: must be 0-16 modules (got {margin})")
    grid = _matrix(data, margin)
    modules = len(grid)
    scale = size // modules
    if scale < 1:
        raise InvalidInputError(
            f"size: {size}px is too small for this code ({modules} modules with margin {margin}) "
            "— ask for a larger size or a smaller margin"
        )
    pad = (size - scale * modules) // 2
    if fmt == "svg":
        return _svg(grid, size, scale, pad)
    return _png(grid, size, scale, pad)


def _png(grid: list[list[bool]], size: int, scale: int, pad: int) -> bytes:
    white, black = b"\xff", b"\x00"
    blank_row = b"\x00" + white * size
    lines = [blank_row] * pad
    for row in grid:
        pixels = b"".join((black if dark else white) * scale for dark in row)
        line = b"\x00" + white * pad + pixels + white * (size - pad - len(pixels))
        lines.extend([line] * scale)
    lines.extend([blank_row] * (size - len(lines)))
    raw = b"".join(lines)
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit grayscale
    out = io.BytesIO()
    out.write(b"\x89PNG\r\n\x1a\n")
    for kind, body in ((b"IHDR", header), (b"IDAT", zlib.compress(raw, 6)), (b"IEND", b"")):
        out.write(struct.pack(">I", len(body)) + kind + body)
        out.write(struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    return out.getvalue()


def _svg(grid: list[list[bool]], size: int, scale: int, pad: int) -> bytes:
    path = []
    for y, row in enumerate(grid):
        for x, dark in enumerate(row):
            if dark:
                path.append(f"M{pad + x * scale},{pad + y * scale}h{scale}v{scale}h-{scale}z")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}"><rect width="100%" height="100%" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(path)}"/></svg>'
    ).encode()
