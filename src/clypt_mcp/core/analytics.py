"""Analytics: periods, intervals and time zones over the store's raw click counts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clypt_mcp.errors import InvalidInputError
from clypt_mcp.models import (
    Analytics,
    AnalyticsQuery,
    AnalyticsWindow,
    Bucket,
    Count,
    EventCount,
    Interval,
    PreviousPeriod,
    VariantCount,
)
from clypt_mcp.store.base import SLOT, ClickStats, ConversionStats

PERIODS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "12mo": timedelta(days=365),
}
MAX_BUCKETS = 400
_BREAKDOWNS = {
    "countries": "country",
    "devices": "device",
    "browsers": "browser",
    "os": "os",
    "referrers": "referrer",
    "links": "link",
    "cities": "city",
}
NO_CITIES = (
    "no city data: CLYPT_GEOIP_DB does not name a MaxMind City database (the built-in table "
    "and Country databases know countries only)"
)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`.

    Raises:
        InvalidInputError: when no such zone exists.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"timezone: '{name}' is not an IANA time zone name (like 'UTC' or 'Europe/Paris')",
            field="timezone",
        ) from None


def window(
    query: AnalyticsQuery, now: datetime, first_click: datetime | None
) -> tuple[datetime, datetime]:
    """The `[start, end)` a query asks for, before it is widened to whole buckets."""
    end = query.end or now
    if query.start is not None:
        start = query.start
    elif query.period == "all":
        start = min(first_click or end, end - timedelta(days=1))
    else:
        start = end - PERIODS[query.period]
    if end <= start:
        raise InvalidInputError("end must be after start", field="end")
    return start, end


def snap(
    start: datetime, end: datetime, interval: Interval, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """Widen `[start, end)` to whole local buckets of `interval`: the time series then has no
    partial buckets, the totals equal its sum, and the rollups are read at their coarsest."""
    lo = floor_local(start, interval, tz)
    hi = floor_local(end, interval, tz)
    if hi < end:
        hi = next_bucket(hi, interval, tz)
    lo_ts = int(lo.timestamp()) // SLOT * SLOT
    hi_ts = -(-math.ceil(hi.timestamp()) // SLOT) * SLOT
    return datetime.fromtimestamp(lo_ts, UTC), datetime.fromtimestamp(max(hi_ts, lo_ts + SLOT), UTC)


def series_unit(start: datetime, end: datetime, tz: ZoneInfo, interval: Interval) -> int:
    """The coarsest rollup grain (a day, an hour or a quarter-hour) whose buckets never
    straddle a local bucket boundary of `interval` in `tz`, so the series reads few rows."""
    offsets = set()
    moment = start - timedelta(days=1)
    while moment <= end + timedelta(days=1):
        offset = moment.astimezone(tz).utcoffset()
        offsets.add(int(offset.total_seconds()) if offset is not None else 0)
        moment += timedelta(hours=12)
    grains = (3600, SLOT) if interval == "hour" else (86400, 3600, SLOT)
    for grain in grains:
        if all(offset % grain == 0 for offset in offsets):
            return grain
    return SLOT


def auto_interval(start: datetime, end: datetime) -> Interval:
    span = end - start
    if span <= timedelta(days=2):
        return "hour"
    if span <= timedelta(days=62):
        return "day"
    if span <= timedelta(days=200):
        return "week"
    return "month"


def floor_local(moment: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    """The start of the local bucket holding `moment`, as an aware local datetime."""
    local = moment.astimezone(tz)
    if interval == "hour":
        naive = local.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    else:
        naive = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        if interval == "week":
            naive -= timedelta(days=naive.weekday())
        elif interval == "month":
            naive = naive.replace(day=1)
    return _localize(naive, tz)


def _localize(naive: datetime, tz: ZoneInfo) -> datetime:
    aware = naive.replace(tzinfo=tz)
    # A wall time skipped by a DST jump does not round-trip; move to the real instant.
    return aware.astimezone(UTC).astimezone(tz)


def next_bucket(start: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    if interval == "hour":
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
    naive = start.replace(tzinfo=None)
    if interval == "day":
        naive = (naive + timedelta(days=1)).replace(hour=0, minute=0)
    elif interval == "week":
        naive = (naive + timedelta(days=7)).replace(hour=0, minute=0)
    else:
        year, month = (naive.year + 1, 1) if naive.month == 12 else (naive.year, naive.month + 1)
        naive = naive.replace(year=year, month=month, day=1, hour=0, minute=0)
    return _localize(naive, tz)


def buckets(start: datetime, end: datetime, interval: Interval, tz: ZoneInfo) -> list[datetime]:
    """Local bucket starts covering `[start, end)`."""
    out = [floor_local(start, interval, tz)]
    while True:
        nxt = next_bucket(out[-1], interval, tz)
        if nxt >= end:
            return out
        out.append(nxt)
        if len(out) > MAX_BUCKETS:
            raise InvalidInputError(
                f"interval: '{interval}' over this period gives more than {MAX_BUCKETS} points — "
                "choose a larger interval or a shorter period",
                field="interval",
            )


def previous_window(
    start: datetime, end: datetime, interval: Interval, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """The same number of `interval` buckets just before `start`."""
    count = len(buckets(start, end, interval, tz))
    lo = start
    for _ in range(count):
        lo = floor_local(lo - timedelta(seconds=1), interval, tz)
    return lo, start


def change(now: int, before: int) -> float | None:
    """Percent change, rounded to 0.1; None when there is nothing to compare with."""
    if before == 0:
        return None
    return round((now - before) * 100 / before, 1)


def series(
    stats: ClickStats,
    start: datetime,
    end: datetime,
    interval: Interval,
    tz: ZoneInfo,
    conv: ConversionStats | None = None,
) -> list[Bucket]:
    counts = dict.fromkeys(buckets(start, end, interval, tz), 0)
    converted = dict.fromkeys(counts, 0)
    for slot, n in stats.buckets:
        key = floor_local(datetime.fromtimestamp(slot, UTC), interval, tz)
        if key in counts:
            counts[key] += n
    for slot, n in conv.buckets if conv else []:
        key = floor_local(datetime.fromtimestamp(slot, UTC), interval, tz)
        if key in converted:
            converted[key] += n
    return [Bucket(t=t, clicks=n, conversions=converted[t]) for t, n in counts.items()]


def rate(conversions: int, clicks: int) -> float:
    """conversions / clicks, rounded to 4 places; 0 without clicks."""
    return round(conversions / clicks, 4) if clicks else 0.0


def events(conv: ConversionStats) -> list[EventCount]:
    out: dict[str, EventCount] = {}
    for event, currency, n, value in conv.by_event:
        entry = out.setdefault(event, EventCount(key=event, conversions=0, revenue={}))
        entry.conversions += n
        if currency:
            entry.revenue[currency] = entry.revenue.get(currency, 0) + value
    return sorted(out.values(), key=lambda e: (-e.conversions, e.key))


def build(
    query: AnalyticsQuery,
    stats: ClickStats,
    window: tuple[datetime, datetime],
    interval: Interval,
    tz: ZoneInfo,
    before: tuple[ClickStats, datetime, datetime],
    *,
    cities: bool = True,
    variants: list[tuple[str, str]] | None = None,
    conversions: tuple[ConversionStats, ConversionStats] | None = None,
) -> Analytics:
    """The Analytics answer from counts: local buckets, top N plus `other`, the comparison.

    `cities`: whether the GeoIP data has cities at all; `variants`: the link's (label, url)."""
    start, end = window
    conv, prev_conv = conversions or (ConversionStats(), ConversionStats())
    fields: dict[str, list[Count]] = {}
    for name, dim in _BREAKDOWNS.items():
        converted = conv.breakdowns.get(dim, {})
        top = [
            Count(key=k, clicks=n, conversions=converted.get(k, 0))
            for k, n in stats.breakdowns.get(dim, [])
        ]
        rest = stats.clicks_in_period - sum(c.clicks for c in top)
        # every conversion has a link: the store may give only the top links' counts
        seen = conv.total if dim == "link" else sum(converted.values())
        unshown = seen - sum(c.conversions for c in top)
        if rest > 0:
            # clicks with no city were never rolled up by city: they are the unknown ones
            label = "unknown" if dim == "city" else "other"
            folded = next((c for c in top if c.key == label), None)  # housekeeping's `other`
            if folded is not None:
                folded.clicks += rest
                folded.conversions += max(0, unshown)
            else:
                top.append(Count(key=label, clicks=rest, conversions=max(0, unshown)))
        fields[name] = top
    note = None
    if not cities and not stats.breakdowns.get("city"):
        fields["cities"], note = [], NO_CITIES
    prev, prev_start, prev_end = before
    return Analytics(
        cities_note=note,
        traffic=[Count(key=k, clicks=n) for k, n in stats.traffic],
        variants=variant_results(stats, prev, variants or [], conv),
        conversions=conv.total,
        revenue=conv.revenue(),
        conversion_rate=rate(conv.total, stats.clicks_in_period),
        events=events(conv),
        total_clicks=stats.total_clicks,
        clicks_in_period=stats.clicks_in_period,
        unique_visitors=stats.unique_visitors,
        clicks_change_percent=change(stats.clicks_in_period, prev.clicks_in_period),
        unique_visitors_change_percent=change(stats.unique_visitors, prev.unique_visitors),
        previous=PreviousPeriod(
            start=prev_start.astimezone(tz),
            end=prev_end.astimezone(tz),
            clicks=prev.clicks_in_period,
            unique_visitors=prev.unique_visitors,
            timeseries=series(prev, prev_start, prev_end, interval, tz, prev_conv),
            conversions=prev_conv.total,
            revenue=prev_conv.revenue(),
            conversion_rate=rate(prev_conv.total, prev.clicks_in_period),
        ),
        query=AnalyticsWindow(
            start=start.astimezone(tz),
            end=end.astimezone(tz),
            timezone=tz.key,
            interval=interval,
            bots_included=query.include_bots,
        ),
        timeseries=series(stats, start, end, interval, tz, conv),
        **fields,
    )


def variant_results(
    stats: ClickStats,
    prev: ClickStats,
    variants: list[tuple[str, str]],
    conv: ConversionStats | None = None,
) -> list[VariantCount]:
    """Each variant of the link (in its order), then labels no longer on it that had clicks."""
    clicks = {label: (n, u) for label, n, u in stats.variants}
    before = {label: n for label, n, _ in prev.variants}
    total = sum(n for n, _ in clicks.values())
    labels = [label for label, _ in variants]
    labels += sorted(set(clicks) - set(labels))
    urls = dict(variants)
    by_variant = conv.breakdowns.get("variant", {}) if conv else {}
    out = []
    for label in labels:
        n, u = clicks.get(label, (0, 0))
        out.append(
            VariantCount(
                label=label,
                url=urls.get(label),
                clicks=n,
                share=round(n / total, 4) if total else 0.0,
                unique_visitors=u,
                previous_clicks=before.get(label, 0),
                conversions=by_variant.get(label, 0),
                conversion_rate=rate(by_variant.get(label, 0), n),
            )
        )
    return out
