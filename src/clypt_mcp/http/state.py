"""AppState: the collaborators every HTTP handler shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.idempotency import Idempotency
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.ratelimit import Limiter, RateLimiter
from clypt_mcp.store.base import Store

if TYPE_CHECKING:
    from clypt_mcp.http.oauth import ClyptOAuthProvider


@dataclass
class AppState:
    """What `create_app` was given, plus the per-process helpers it made.

    Handlers reach the use cases through `service`; the redirect path, the limits and
    idempotency use `store` and `clock` directly (the same ones the service was built on),
    never the service's own.
    """

    service: ClyptService
    store: Store
    clock: Callable[[], datetime]
    settings: Settings
    recorder: ClickRecorder
    idempotency: Idempotency
    limiter: Limiter = field(default_factory=lambda: RateLimiter.parse("1000/minute"))
    # the authorization server, when MCP is served: made on first use (see `oauth`)
    oauth_factory: Callable[[], ClyptOAuthProvider] | None = None
    _oauth: ClyptOAuthProvider | None = field(default=None, init=False, repr=False)

    @property
    def oauth(self) -> ClyptOAuthProvider | None:
        """The authorization server when MCP is served, else None. Made at the first use, which
        imports the MCP SDK (`clypt_mcp.http.deferred`)."""
        if self._oauth is None and self.oauth_factory is not None:
            self._oauth = self.oauth_factory()
        return self._oauth
