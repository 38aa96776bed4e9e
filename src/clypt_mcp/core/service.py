"""ClyptService: one method per use case, each checking scope, then rules, then storing.

The use cases live by area in core/areas/ (links and their bulk changes, organisation,
analytics, keys, team, conversions and A/B tests, over a shared base; jobs in core/jobs.py);
ClyptService is the one façade the backends, the HTTP app and the CLI use.
"""

from __future__ import annotations

from clypt_mcp.core.areas.analytics import AnalyticsArea
from clypt_mcp.core.areas.base import link_status, missing_scope_message
from clypt_mcp.core.areas.bulk import BulkArea
from clypt_mcp.core.areas.conversions import ConversionsArea
from clypt_mcp.core.areas.keys import KEY_PREFIX, KeysArea
from clypt_mcp.core.areas.organisation import OrganisationArea
from clypt_mcp.core.areas.team import GUEST_WORKSPACE, TeamArea

__all__ = ["GUEST_WORKSPACE", "KEY_PREFIX", "ClyptService", "link_status", "missing_scope_message"]


# TeamArea and BulkArea are each LinksArea (over DomainsArea): quotas and guests; bulk work.
# ConversionsArea (#15) stands on ServiceBase alone.
class ClyptService(BulkArea, TeamArea, OrganisationArea, AnalyticsArea, KeysArea, ConversionsArea):
    """The use cases of Clypt over a Store. Every method takes the caller's Principal."""
