"""The analytics time series as an inline SVG, drawn on the server.

Works without JavaScript: hovering a point shows its value (an SVG <title>), every point's
value is also in a visually hidden table for screen readers, and the previous period is a
dashed second line. Colours and the two-line design follow clypt_mcp.core.chart (the PNG that
the MCP tools return), so a chart looks the same wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from clypt_mcp.models import Analytics

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 12, 28
CURRENT = "#1f6feb"  # as the PNG chart's current period
PREVIOUS = "#8c959f"
_FORMATS = {"hour": "%d %b %H:%M", "day": "%d %b", "week": "%d %b", "month": "%b %Y"}


@dataclass(frozen=True)
class Point:
    label: str
    clicks: int
    previous: int | None


def points(report: Analytics) -> list[Point]:
    fmt = _FORMATS.get(report.query.interval, "%d %b")
    prev = [b.clicks for b in report.previous.timeseries]
    out = []
    for i, bucket in enumerate(report.timeseries):
        when: datetime = bucket.t
        out.append(Point(when.strftime(fmt), bucket.clicks, prev[i] if i < len(prev) else None))
    return out


def svg(report: Analytics, title: str) -> str:
    """The chart's markup (already escaped, safe to insert)."""
    pts = points(report)
    top = max([1, *(p.clicks for p in pts), *(p.previous or 0 for p in pts)])
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    step = inner_w / max(1, len(pts) - 1)

    def x(i: int) -> float:
        return PAD_LEFT + (i * step if len(pts) > 1 else inner_w / 2)

    def y(v: int) -> float:
        return PAD_TOP + inner_h - v / top * inner_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-labelledby="chart-title" preserveAspectRatio="xMidYMid meet">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + inner_h}" x2="{WIDTH - PAD_RIGHT}" '
        f'y2="{PAD_TOP + inner_h}" stroke="#d0d7de"/>',
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + 10}" text-anchor="end" class="axis">{top}</text>',
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + inner_h}" text-anchor="end" class="axis">0</text>',
    ]
    prev_pts = [(x(i), y(p.previous)) for i, p in enumerate(pts) if p.previous is not None]
    if len(prev_pts) > 1:
        line = " ".join(f"{a:.1f},{b:.1f}" for a, b in prev_pts)
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="{PREVIOUS}" stroke-width="1.5" '
            'stroke-dasharray="4 3"/>'
        )
    if len(pts) > 1:
        line = " ".join(f"{x(i):.1f},{y(p.clicks):.1f}" for i, p in enumerate(pts))
        parts.append(f'<polyline points="{line}" fill="none" stroke="{CURRENT}" stroke-width="2"/>')
    for i, p in enumerate(pts):
        tip = f"{p.label}: {p.clicks} clicks"
        if p.previous is not None:
            tip += f" (previous period: {p.previous})"
        parts.append(
            f'<circle class="point" cx="{x(i):.1f}" cy="{y(p.clicks):.1f}" r="3.5" '
            f'fill="{CURRENT}" data-clicks="{p.clicks}"><title>{escape(tip)}</title></circle>'
        )
    if pts:
        for i in (0, len(pts) - 1) if len(pts) > 1 else (0,):
            anchor = "start" if i == 0 else "end"
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" class="axis">'
                f"{escape(pts[i].label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
