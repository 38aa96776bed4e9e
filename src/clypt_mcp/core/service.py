"""ClyptService: one method per use case, each checking scope, then rules, then storing.

The use cases live by area in core/areas/ (links, organisation, analytics, keys, over a shared
base); ClyptService is the one façade the backends, the HTTP app and the CLI use.
"""

from __future__ import annotations

from clypt_mcp.core.areas.analytics import AnalyticsArea
from clypt_mcp.core.areas.base import link_status, missing_scope_message
from clypt_mcp.core.areas.keys import KEY_PREFIX, KeysArea
from clypt_mcp.core.areas.organisation import OrganisationArea
from clypt_mcp.core.areas.team import GUEST_WORKSPACE, TeamArea

__all__ = ["GUEST_WORKSPACE", "KEY_PREFIX", "ClyptService", "link_status", "missing_scope_message"]


# TeamArea is LinksArea (over DomainsArea) with guest links and quotas: the links come with it.
class ClyptService(TeamArea, OrganisationArea, AnalyticsArea, KeysArea):
    """The use cases of Clypt over a Store. Every method takes the caller's Principal."""
