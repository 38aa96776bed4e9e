"""A PNG chart of an analytics time series, with the previous period as a second line.

matplotlib is imported here only, on the first chart asked for: it costs about half a second,
which no other request should pay.
"""

from __future__ import annotations

import io
from typing import Any

from clypt_mcp.errors import InvalidInputError
from clypt_mcp.models import Analytics

MIN_WIDTH, MAX_WIDTH = 200, 2000
MIN_HEIGHT, MAX_HEIGHT = 150, 1500
_DPI = 100
_FORMATS = {"hour": "%d %b %H:%M", "day": "%d %b", "week": "%d %b", "month": "%b %Y"}


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
    points = list(range(len(report.timeseries)))
    labels = [b.t.strftime(_FORMATS[q.interval]) for b in report.timeseries]
    previous = [b.clicks for b in report.previous.timeseries][: len(points)]
    ax.plot(points, [b.clicks for b in report.timeseries], color="#2563eb", linewidth=2,
            marker="o" if len(points) <= 40 else None, markersize=3,
            label=f"this period ({report.clicks_in_period})")  # fmt: skip
    ax.plot(range(len(previous)), previous, color="#9ca3af", linewidth=1.5, linestyle="--",
            label=f"previous period ({report.previous.clicks})")  # fmt: skip
    step = max(1, len(points) // 8)
    ax.set_xticks(points[::step], labels[::step], fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("clicks", fontsize=9)
    ax.set_title(f"Clicks per {q.interval} ({q.timezone})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
