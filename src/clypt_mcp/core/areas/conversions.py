"""Conversions and A/B tests (#15): recording a conversion, ending A/B tests that can decide."""

from __future__ import annotations

from clypt_mcp.core import conversions as conversion_rules
from clypt_mcp.core.areas.base import ServiceBase
from clypt_mcp.models import Conversion, ConversionCreate, Principal, Scope


class ConversionsArea(ServiceBase):
    """Conversions and A/B tests (#15): recording a conversion, ending A/B tests."""

    async def record_conversion(
        self, principal: Principal, data: ConversionCreate
    ) -> tuple[Conversion, bool]:
        """A conversion for a click id, and whether it is new (see core/conversions.py); one
        of a running A/B test's goal evaluates the test.

        Raises: NotFoundError, InvalidInputError."""
        self.require(principal, Scope.CONVERSIONS_WRITE)
        rec, new = await conversion_rules.record(
            self.store, self.clock(), principal.workspace_id, data
        )
        found = await self.store.get_link(principal.workspace_id, link_id=rec.link_id)
        code = rec.code or (found.code if found is not None else "")
        state = found.ab_test if found is not None else None
        running = new and state is not None and state.get("status") == "running"
        if running and found is not None and state and state["goal"] in ("clicks", rec.event):
            await self._ab_result(found)
        conversion = conversion_rules.to_conversion(rec, code)
        conversion.duplicate = not new
        return conversion, new

    async def check_ab_tests(self) -> int:
        """Evaluate every running A/B test (serve does every few seconds); how many ended."""
        ended = 0
        for ws, link_id in await self.store.running_ab_tests():
            rec = await self.store.get_link(ws, link_id=link_id)
            if rec is not None and rec.ab_test is not None:
                ended += (await self._ab_result(rec)).status != "running"
        return ended
