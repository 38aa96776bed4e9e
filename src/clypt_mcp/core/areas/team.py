"""The team use cases (#14 items 5, 6): guest links made without a key, and workspace quotas."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from clypt_mcp.core import quotas
from clypt_mcp.core.areas.links import LinksArea
from clypt_mcp.errors import InvalidInputError, RateLimitedError
from clypt_mcp.models import Link, LinkCreate, Principal, Scope, Usage, WorkspaceLimits
from clypt_mcp.store.base import Limits, to_us

GUEST_WORKSPACE = "guests"
GUEST_LIFETIME = timedelta(days=7)


class TeamArea(LinksArea):
    """Guest links (links made without a key) and quotas."""

    # --- guest links (#14 item 6) ----------------------------------------------------

    async def create_guest_link(
        self, url: str, client: str, cap: int, rate: tuple[int, int], rate_text: str
    ) -> Link:
        """A link made without a key, in the `guests` workspace: a generated code, no options,
        expiring in 7 days (then the housekeeping deletes it for good). `client` may make
        `rate` = (count, window seconds) of them per fixed window, counted in the store.

        Raises: InvalidInputError, RateLimitedError (per address, or `cap` guest links live).
        """
        now = self.clock()
        limit, window = rate
        at = int(now.timestamp())
        start = at // window * window
        digest = hashlib.sha256(f"guest\0{client}".encode()).hexdigest()[:32]
        if await self.store.count_request(f"guest:{digest}", start, limit) is None:
            wait = max(1, start + window - at)
            raise RateLimitedError(
                f"guest links are limited to {rate_text} per address — retry after {wait} s",
                retry_after=wait,
            )
        data = LinkCreate(url=url)  # the same rules as any destination
        if await self.store.team.live_guests(to_us(now) or 0) >= cap:
            raise RateLimitedError(
                "this server holds as many guest links as it allows — try again later, or "
                "ask its operator for an API key",
                retry_after=3600,
            )
        expires = now + GUEST_LIFETIME
        data = data.model_copy(update={"expires_at": expires})
        guest = Principal(workspace_id=GUEST_WORKSPACE, scopes=frozenset({Scope.LINKS_WRITE}))
        link = await self.create_link(guest, data)
        await self.store.team.add_guest(link.id, client, to_us(now) or 0, to_us(expires) or 0)
        return link

    # --- quotas (#14 item 5) ---------------------------------------------------------

    async def usage(self, principal: Principal) -> Usage:
        """The workspace's limits and use; any valid key of the workspace may ask."""
        return await quotas.usage(self.store, principal.workspace_id, self.clock())

    async def spend_api_call(self, principal: Principal) -> None:
        """Count one REST or MCP call. Raises: QuotaExceededError past the daily limit."""
        await quotas.spend_api_call(self.store, principal.workspace_id, self.clock())

    async def set_limits(self, workspace_id: str, limits: WorkspaceLimits) -> WorkspaceLimits:
        """An operator's act (CLI): the workspace's limits (None: no limit)."""
        for name, value in limits.model_dump().items():
            if value is not None and value < 0:
                raise InvalidInputError(f"{name} must be 0 or more", field=name)
        now = self.clock()
        await self.store.team.set_limits(
            workspace_id,
            Limits(limits.links, limits.clicks_per_month, limits.api_calls_per_day),
            to_us(now) or 0,
        )
        return limits

    async def limits(self, workspace_id: str) -> WorkspaceLimits:
        found = await self.store.team.limits(workspace_id)
        return WorkspaceLimits(
            links=found.links,
            clicks_per_month=found.clicks_per_month,
            api_calls_per_day=found.api_calls_per_day,
        )
