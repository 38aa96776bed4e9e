"""The analytics time series as an inline SVG, drawn on the server.

Works without JavaScript: hovering a point shows its value (an SVG <title>), every point's
value is also in a visually hidden table for screen readers, and the previous period is a
dashed second line. Colours, sizes, labels and series come from clypt_mcp.core.chart (the one
chart definition, shared with the PNG the MCP tools return and the MCP App), so a chart looks
the same wherever it is shown.
"""

from __future__ import annotations

from html import escape

from clypt_mcp.core.chart import STYLE, Point, legend, series
from clypt_mcp.models import Analytics

__all__ = ["Point", "points", "svg"]

points = series


def svg(
    report: Analytics, title: str, *, previous: bool = True, readout: str = "chart-readout"
) -> str:
    """The chart's markup (already escaped, safe to insert); `previous=False` leaves out the
    previous period's line. With script, /app/static/chart.js writes the value of the point
    under the pointer (or stepped to with the arrow keys) into the element `readout`."""
    s = STYLE
    pts = points(report)
    left, right, top_pad, bottom = s.padding
    top = max([1, *(p.clicks for p in pts), *((p.previous or 0) for p in pts if previous)])
    inner_w = s.width - left - right
    inner_h = s.height - top_pad - bottom
    step = inner_w / max(1, len(pts) - 1)

    def x(i: int) -> float:
        return left + (i * step if len(pts) > 1 else inner_w / 2)

    def y(v: int) -> float:
        return top_pad + inner_h - v / top * inner_h

    base = top_pad + inner_h
    parts = [
        f'<svg class="chart" viewBox="0 0 {s.width} {s.height}" width="100%" role="img" '
        f'aria-labelledby="chart-title" preserveAspectRatio="xMidYMid meet" '
        f'data-readout="{escape(readout)}">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<line x1="{left}" y1="{base}" x2="{s.width - right}" y2="{base}" stroke="{s.rule}"/>',
        f'<text x="{left - 6}" y="{top_pad + 10}" text-anchor="end" class="axis">{top}</text>',
        f'<text x="{left - 6}" y="{base}" text-anchor="end" class="axis">0</text>',
    ]
    prev_pts = [(x(i), y(p.previous)) for i, p in enumerate(pts) if p.previous is not None]
    if previous and len(prev_pts) > 1:
        line = " ".join(f"{a:.1f},{b:.1f}" for a, b in prev_pts)
        parts.append(
            f'<polyline class="previous" points="{line}" fill="none" stroke="{s.previous}" '
            f'stroke-width="{s.previous_width}" '
            f'stroke-dasharray="{s.dash[0]} {s.dash[1]}"><title>'
            f"{escape(legend('previous', report.previous.clicks))}</title></polyline>"
        )
    if len(pts) > 1:
        line = " ".join(f"{x(i):.1f},{y(p.clicks):.1f}" for i, p in enumerate(pts))
        parts.append(
            f'<polyline class="current" points="{line}" fill="none" stroke="{s.current}" '
            f'stroke-width="{s.current_width}"/>'
        )
    radius = s.marker_radius if len(pts) <= s.max_markers else s.marker_radius / 2
    for i, p in enumerate(pts):
        tip = f"{p.label}: {p.clicks} clicks"
        if previous and p.previous is not None:
            tip += f" (previous period: {p.previous})"
        parts.append(
            f'<circle class="point" cx="{x(i):.1f}" cy="{y(p.clicks):.1f}" r="{radius}" '
            f'fill="{s.current}" data-clicks="{p.clicks}"><title>{escape(tip)}</title></circle>'
        )
    if pts:
        for i in (0, len(pts) - 1) if len(pts) > 1 else (0,):
            anchor = "start" if i == 0 else "end"
            parts.append(
                f'<text x="{x(i):.1f}" y="{s.height - 8}" text-anchor="{anchor}" class="axis">'
                f"{escape(pts[i].label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
