"""Workspace quotas (#14 item 5): the limits an operator sets, checked before a link is made and
on each API call; clicks are never refused (a printed link must keep working), those beyond the
monthly limit show as `over_quota_clicks`. Without limits nothing is checked or counted."""

from __future__ import annotations

from datetime import UTC, datetime

from clypt_mcp.errors import QuotaExceededError
from clypt_mcp.models import Usage, WorkspaceLimits
from clypt_mcp.store.base import Limits, Store


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def check_new_links(store: Store, workspace_id: str, adding: int = 1) -> None:
    """Raises QuotaExceededError when `adding` more links would pass the workspace's limit."""
    limit = (await store.team.limits(workspace_id)).links
    if limit is None:
        return
    used = await store.team.live_links(workspace_id)
    if used + adding > limit:
        raise QuotaExceededError(
            f"quota_exceeded: this workspace may hold {limit} links and holds {used} — delete "
            "links for good (delete_link with permanent) or ask the server's operator for a "
            "higher limit",
            limit=limit,
            usage=used,
        )


async def spend_api_call(store: Store, workspace_id: str, now: datetime) -> None:
    """Count one API call; raises QuotaExceededError when the day's limit is spent."""
    limit = (await store.team.limits(workspace_id)).api_calls_per_day
    if limit is None:
        return
    day = int(day_start(now).timestamp())
    if await store.team.count_api_call(workspace_id, day, limit) is None:
        raise QuotaExceededError(
            f"quota_exceeded: this workspace may make {limit} API calls a day and made {limit} "
            "today — try again after 00:00 UTC or ask the server's operator for a higher limit",
            limit=limit,
            usage=limit,
        )


async def usage(store: Store, workspace_id: str, now: datetime) -> Usage:
    limits = await store.team.limits(workspace_id)
    month, day = month_start(now), day_start(now)
    clicks = await store.team.clicks_since(workspace_id, int(month.timestamp()))
    over = max(0, clicks - limits.clicks_per_month) if limits.clicks_per_month is not None else 0
    return Usage(
        workspace=workspace_id,
        limits=WorkspaceLimits(
            links=limits.links,
            clicks_per_month=limits.clicks_per_month,
            api_calls_per_day=limits.api_calls_per_day,
        ),
        links=await store.team.live_links(workspace_id),
        clicks_this_month=clicks,
        over_quota_clicks=over,
        api_calls_today=await store.team.api_calls(workspace_id, int(day.timestamp())),
        month_start=month,
        day_start=day,
    )


__all__ = ["Limits", "check_new_links", "spend_api_call", "usage"]
