"""AppState: the collaborators every HTTP handler shares."""

from __future__ import annotations

from dataclasses import dataclass, field

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.ratelimit import Limiter, RateLimiter


@dataclass
class AppState:
    """What `create_app` was given, plus the per-process helpers it made."""

    service: ClyptService
    settings: Settings
    recorder: ClickRecorder
    limiter: Limiter = field(default_factory=lambda: RateLimiter.parse("1000/minute"))
