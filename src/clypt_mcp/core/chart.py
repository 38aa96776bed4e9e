"""The one definition of Clypt's analytics chart, and its PNG rendering.

A chart is drawn in three places: the PNG the MCP tools return (here, with matplotlib), the
dashboard's inline SVG (clypt_mcp.http.web.chart) and the MCP App's interactive SVG (drawn in
the browser by clypt_mcp/tools/ui/analytics.html). All three take their colours, line widths,
dash pattern, marker rule, labels, title and series from STYLE and `series` below; the App
receives STYLE as a JSON data block, so a change here changes every picture.

matplotlib is imported here only, on the first PNG asked for: it costs about half a second,
which no other request should pay.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any

from clypt_mcp.errors import InvalidInputError
from clypt_mcp.models import Analytics

MIN_WIDTH, MAX_WIDTH = 200, 2000
MIN_HEIGHT, MAX_HEIGHT = 150, 1500
_DPI = 100


@dataclass(frozen=True)
class ChartStyle:
    """How every Clypt chart looks: the current period solid, the previous one dashed."""

    current: str = "#1f6feb"  # this period's line and markers
    previous: str = "#8c959f"  # the period before (dashed)
    axis: str = "#57606a"  # tick labels
    rule: str = "#d0d7de"  # the base line and the grid
    current_width: float = 2.0
    previous_width: float = 1.5
    dash: tuple[int, int] = (4, 3)  # the previous period's dash pattern, in line widths x2
    marker_radius: float = 3.5
    max_markers: int = 40  # beyond this many points the line has no markers
    # an SVG's view box and its inner padding (left, right, top, bottom)
    width: int = 640
    height: int = 220
    padding: tuple[int, int, int, int] = (44, 12, 12, 28)
    # strftime patterns (only %d %b %H %M %Y, which the App's script also knows)
    label_formats: dict[str, str] = field(
        default_factory=lambda: {
            "hour": "%d %b %H:%M",
            "day": "%d %b",
            "week": "%d %b",
            "month": "%b %Y",
        }
    )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


STYLE = ChartStyle()


def title(interval: str, timezone: str) -> str:
    return f"Clicks per {interval} ({timezone})"


def legend(which: str, clicks: int) -> str:
    """'this period (12)' / 'previous period (7)'."""
    return f"{which} period ({clicks})"


@dataclass(frozen=True)
class Point:
    label: str
    clicks: int
    previous: int | None  # the previous period's bucket at the same position, if any


def series(report: Analytics) -> list[Point]:
    """The chart's points: each bucket of this period beside the previous period's bucket at
    the same position (the previous series is cut to this period's length)."""
    fmt = STYLE.label_formats.get(report.query.interval, "%d %b")
    prev = [b.clicks for b in report.previous.timeseries]
    return [
        Point(bucket.t.strftime(fmt), bucket.clicks, prev[i] if i < len(prev) else None)
        for i, bucket in enumerate(report.timeseries)
    ]


def render(report: Analytics, width: int = 800, height: int = 400) -> bytes:
    """A `width` x `height` PNG: clicks per interval, this period and the one before.

    Raises:
        InvalidInputError: for a size outside the limits.
    """
    if not (MIN_WIDTH <= width <= MAX_WIDTH and MIN_HEIGHT <= height <= MAX_HEIGHT):
        raise InvalidInputError(
            f"chart size: width {MIN_WIDTH}-{MAX_WIDTH} and height {MIN_HEIGHT}-{MAX_HEIGHT} "
            f"pixels (got {width}x{height})"
        )
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    ax = fig.add_subplot()
    _draw(ax, report)
    fig.tight_layout(pad=0.6)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=_DPI)
    return out.getvalue()


def _draw(ax: Any, report: Analytics) -> None:
    q = report.query
    pts = series(report)
    xs = list(range(len(pts)))
    previous = [p.previous for p in pts if p.previous is not None]
    ax.plot(xs, [p.clicks for p in pts], color=STYLE.current, linewidth=STYLE.current_width,
            marker="o" if len(pts) <= STYLE.max_markers else None,
            markersize=STYLE.marker_radius, label=legend("this", report.clicks_in_period),
            zorder=3)  # fmt: skip
    ax.plot(range(len(previous)), previous, color=STYLE.previous,
            linewidth=STYLE.previous_width, linestyle=(0, STYLE.dash),
            label=legend("previous", report.previous.clicks))  # fmt: skip
    step = max(1, len(xs) // 8)
    ax.set_xticks(xs[::step], [p.label for p in pts][::step], fontsize=8, color=STYLE.axis)
    ax.tick_params(axis="y", labelsize=8, labelcolor=STYLE.axis)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("clicks", fontsize=9)
    ax.set_title(title(q.interval, q.timezone), fontsize=10)
    ax.grid(axis="y", color=STYLE.rule)
    ax.legend(fontsize=8, loc="upper left", frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
