"""Draw Clypt's icons (the server's and one per kind of tool) as SVG and 64 px PNG.

The shapes are described once, on a 24-unit grid, and written both ways, so the two formats
always agree. Run it after changing a shape; its output lives in src/clypt_mcp/icons/:
    .venv/bin/python scripts/make_icons.py
(Pillow comes with matplotlib, a runtime dependency.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "src" / "clypt_mcp" / "icons"
BACKGROUND = "#1f883d"
INK = "#ffffff"
PNG_SIZE = 64
SUPERSAMPLE = 8

# Each shape: ("ring", cx, cy, r, width) | ("rect", x, y, w, h) | ("frame", x, y, w, h, width)
#             | ("poly", [(x, y), ...]) | ("dot", cx, cy, r) (a hole in background colour)
Shape = tuple[Any, ...]
LINK: list[Shape] = [("ring", 9, 12, 4.5, 2), ("ring", 15, 12, 4.5, 2)]
ICONS: dict[str, list[Shape]] = {
    "clypt": LINK,
    "chart": [("rect", 5.5, 13, 3, 6), ("rect", 10.5, 9, 3, 10), ("rect", 15.5, 5, 3, 14)],
    "tag": [
        ("poly", [(5, 5), (12, 5), (19.5, 12.5), (12.5, 19.5), (5, 12)]),
        ("dot", 8.8, 8.8, 1.4),
    ],
    "folder": [("poly", [(4, 6.5), (10, 6.5), (12, 8.5), (20, 8.5), (20, 18), (4, 18)])],
    "qr": [
        ("frame", 5, 5, 5.5, 5.5, 1.5),
        ("frame", 13.5, 5, 5.5, 5.5, 1.5),
        ("frame", 5, 13.5, 5.5, 5.5, 1.5),
        ("rect", 13.5, 13.5, 2.5, 2.5),
        ("rect", 16.5, 16.5, 2.5, 2.5),
        ("rect", 13.5, 16.5, 1.5, 1.5),
    ],
}


def svg(shapes: list[Shape]) -> str:
    parts = [f'<rect width="24" height="24" rx="5" fill="{BACKGROUND}"/>']
    for shape in shapes:
        kind, *a = shape
        if kind == "ring":
            cx, cy, r, w = a
            parts.append(
                f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="none" stroke="{INK}" '
                f'stroke-width="{w}"/>'
            )
        elif kind == "rect":
            x, y, w, h = a
            parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{INK}"/>')
        elif kind == "frame":
            x, y, w, h, sw = a
            parts.append(
                f'<rect x="{x + sw / 2}" y="{y + sw / 2}" width="{w - sw}" height="{h - sw}" '
                f'fill="none" stroke="{INK}" stroke-width="{sw}"/>'
            )
        elif kind == "poly":
            points = " ".join(f"{x},{y}" for x, y in a[0])
            parts.append(f'<polygon points="{points}" fill="{INK}"/>')
        elif kind == "dot":
            cx, cy, r = a
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{BACKGROUND}"/>')
    body = "".join(parts)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="64" height="64">'
        f"{body}</svg>\n"
    )


def png(shapes: list[Shape], path: Path | Any, size: int = PNG_SIZE) -> None:
    """Write the PNG to `path` (a file name or a binary file object)."""
    big = size * SUPERSAMPLE
    k = big / 24
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=5 * k, fill=BACKGROUND)
    for shape in shapes:
        kind, *a = shape
        if kind == "ring":
            cx, cy, r, w = a
            box = (
                (cx - r - w / 2) * k,
                (cy - r - w / 2) * k,
                (cx + r + w / 2) * k,
                (cy + r + w / 2) * k,
            )
            draw.ellipse(box, outline=INK, width=round(w * k))
        elif kind == "rect":
            x, y, w, h = a
            draw.rectangle((x * k, y * k, (x + w) * k, (y + h) * k), fill=INK)
        elif kind == "frame":
            x, y, w, h, sw = a
            draw.rectangle(
                (x * k, y * k, (x + w) * k, (y + h) * k), outline=INK, width=round(sw * k)
            )
        elif kind == "poly":
            draw.polygon([(x * k, y * k) for x, y in a[0]], fill=INK)
        elif kind == "dot":
            cx, cy, r = a
            draw.ellipse(((cx - r) * k, (cy - r) * k, (cx + r) * k, (cy + r) * k), fill=BACKGROUND)
    small = image.resize((size, size), Image.Resampling.LANCZOS)
    # A 16-colour palette keeps each PNG near a kilobyte: they travel as data: URIs in tools/list.
    small = small.quantize(colors=16, method=Image.Quantize.FASTOCTREE)
    small.save(path, format="PNG", optimize=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, shapes in ICONS.items():
        (OUT / f"{name}.svg").write_text(svg(shapes), encoding="utf-8")
        png(shapes, OUT / f"{name}.png")
        print(f"wrote {name}.svg, {name}.png")


if __name__ == "__main__":
    main()
