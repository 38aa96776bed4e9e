"""AppState: the collaborators every HTTP handler shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.ratelimit import Limiter, RateLimiter

if TYPE_CHECKING:
    from clypt_mcp.http.oauth import ClyptOAuthProvider


@dataclass
class AppState:
    """What `create_app` was given, plus the per-process helpers it made."""

    service: ClyptService
    settings: Settings
    recorder: ClickRecorder
    limiter: Limiter = field(default_factory=lambda: RateLimiter.parse("1000/minute"))
    oauth: ClyptOAuthProvider | None = None  # the authorization server, when MCP is served
