"""Webhooks (#16): endpoints a workspace subscribes, and how their events are delivered.

The service side (`Webhooks`, reached as `service.webhooks`) checks scopes and input, keeps the
secret out of every answer but create's and rotate_secret's, and refuses URLs whose host
resolves to a private, link-local or metadata address (loopback only with
`CLYPT_DEV_ALLOW_LOOPBACK=true`). The delivery side (`DeliveryRules`) renders an event, signs it
per Standard Webhooks with the `standardwebhooks` library, and decides what a failed attempt
means: retry with exponential backoff and jitter (honouring `Retry-After`) until 24 hours after
the first attempt, then give up; an endpoint failing for 24 hours is disabled with the reason.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio

from clypt_mcp.core.conversions import to_conversion
from clypt_mcp.errors import InsufficientScopeError, InvalidInputError, NotFoundError
from clypt_mcp.models import (
    WEBHOOK_EVENTS,
    Link,
    Principal,
    Scope,
    Webhook,
    WebhookAttempt,
    WebhookCreate,
    WebhookDeliveries,
    WebhookList,
    WebhookQueued,
    WebhookUpdate,
    WebhookWithSecret,
    expand_scopes,
    new_id,
)
from clypt_mcp.store.base import LinkRecord, OutgoingMessage, Store, WebhookRecord, to_us

RETRY_WINDOW = timedelta(hours=24)
FIRST_RETRY = 5.0  # seconds before the first retry (with jitter: at most 6.5 s)
MAX_BACKOFF = 4 * 3600.0
ATTEMPTS_KEPT = timedelta(days=30)


class AddressRefused(Exception):
    """A webhook URL this server must not call, in words fit for its caller."""


def refused_address(address: str, allow_loopback: bool) -> bool:
    """Whether an IP address is one no webhook may reach: loopback (unless allowed), private,
    link-local (cloud metadata included), multicast, reserved or otherwise not global."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return not allow_loopback
    return not ip.is_global or ip.is_multicast or ip.is_link_local or ip.is_private


def check_url_shape(url: str, allow_loopback: bool) -> None:
    """https with a host; plain http only to loopback when allowed.

    Raises: AddressRefused.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise AddressRefused("url: must be an https:// URL with a host")
    if parts.username or parts.password:
        raise AddressRefused("url: must not carry a user name or password")
    if parts.scheme == "http" and not allow_loopback:
        raise AddressRefused("url: must be https:// (http:// only to loopback in development)")


async def resolve_public(url: str, allow_loopback: bool) -> list[str]:
    """The addresses `url`'s host resolves to, all of them allowed.

    Raises: AddressRefused.
    """
    check_url_shape(url, allow_loopback)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise AddressRefused(f"url: the host '{host}' does not resolve") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses or any(refused_address(a, allow_loopback) for a in addresses):
        raise AddressRefused(
            f"url: the host '{host}' resolves to a private, loopback, link-local or metadata "
            "address, which webhooks never call"
        )
    if parts.scheme == "http" and not all(
        ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses
    ):
        raise AddressRefused("url: must be https:// (http:// only to loopback in development)")
    return addresses


def new_secret() -> str:
    """`whsec_` and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _require(principal: Principal, scope: Scope) -> None:
    if scope not in expand_scopes(principal.scopes):
        raise InsufficientScopeError(
            f"this key lacks the '{scope.value}' scope — create a key with it",
            scope=scope.value,
        )


def _webhook(rec: WebhookRecord) -> Webhook:
    return Webhook(
        id=rec.id, url=rec.url, events=rec.events, filter=rec.filter, enabled=rec.enabled,
        disabled_reason=rec.disabled_reason, failing_since=rec.failing_since,
        created_at=rec.created_at, updated_at=rec.updated_at,
    )  # fmt: skip


class Webhooks:
    """The webhook use cases, each checking scope, then input, then the store."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        render_link: Callable[[LinkRecord], Link],
        resolve_link: Callable[[Principal, str], Any],
        folder_ids: Callable[[Principal, str], Any],
        allow_loopback: bool = False,
    ) -> None:
        self.store = store
        self.clock = clock
        self.render_link = render_link
        self._resolve_link = resolve_link  # (principal, ref) -> awaitable LinkRecord
        self._folder_ids = folder_ids  # (principal, ref) -> awaitable [folder ids]
        self.allow_loopback = allow_loopback
        self.outbox = store.webhooks  # what the delivery worker claims and settles

    async def _check_url(self, url: str) -> None:
        try:
            await resolve_public(url, self.allow_loopback)
        except AddressRefused as exc:
            raise InvalidInputError(str(exc), field="url") from exc

    async def _filter(self, principal: Principal, flt: Any) -> dict[str, Any] | None:
        if flt is None:
            return None
        if flt.folder is not None:
            ids = await self._folder_ids(principal, flt.folder)
            if not ids:
                raise NotFoundError(
                    f"filter.folder: no folder '{flt.folder}' — list folders to see them",
                    field="filter.folder",
                )
            return {"folder": ids[0]}
        if flt.tag is not None:
            return {"tag": flt.tag}
        return {"links": [(await self._resolve_link(principal, ref)).id for ref in flt.links]}

    async def _get(self, principal: Principal, webhook_id: str) -> WebhookRecord:
        rec = await self.store.webhooks.get(principal.workspace_id, webhook_id)
        if rec is None:
            raise NotFoundError(
                f"webhook '{webhook_id}' not found — list webhooks to see their ids",
                field="webhook",
            )
        return rec

    async def create(self, principal: Principal, data: WebhookCreate) -> WebhookWithSecret:
        _require(principal, Scope.WEBHOOKS_WRITE)
        await self._check_url(data.url)
        now = self.clock()
        rec = WebhookRecord(
            id=new_id("whk"), workspace_id=principal.workspace_id, url=data.url,
            events=list(dict.fromkeys(data.events or WEBHOOK_EVENTS)),
            filter=await self._filter(principal, data.filter), enabled=data.enabled,
            created_at=now, updated_at=now,
        )  # fmt: skip
        secret = new_secret()
        await self.store.ensure_workspace(principal.workspace_id, now)
        await self.store.webhooks.create(rec, secret)
        return WebhookWithSecret(**_webhook(rec).model_dump(), secret=secret)

    async def list(self, principal: Principal) -> WebhookList:
        _require(principal, Scope.WEBHOOKS_READ)
        records = await self.store.webhooks.endpoints(principal.workspace_id)
        return WebhookList(webhooks=[_webhook(r) for r in records])

    async def get(self, principal: Principal, webhook_id: str) -> Webhook:
        _require(principal, Scope.WEBHOOKS_READ)
        return _webhook(await self._get(principal, webhook_id))

    async def update(self, principal: Principal, webhook_id: str, data: WebhookUpdate) -> Webhook:
        _require(principal, Scope.WEBHOOKS_WRITE)
        await self._get(principal, webhook_id)
        changes: dict[str, Any] = {}
        given = data.model_fields_set
        if "url" in given:
            if data.url is None:
                raise InvalidInputError("url: cannot be cleared", field="url")
            await self._check_url(data.url)
            changes["url"] = data.url
        if "events" in given:
            if data.events is None:
                raise InvalidInputError(
                    "events: cannot be cleared — list the events", field="events"
                )
            changes["events"] = list(dict.fromkeys(data.events))
        if "filter" in given:
            changes["filter"] = await self._filter(principal, data.filter)
        if "enabled" in given and data.enabled is not None:
            changes["enabled"] = data.enabled
        if changes:
            await self.store.webhooks.update(
                principal.workspace_id, webhook_id, changes, to_us(self.clock()) or 0
            )
        return _webhook(await self._get(principal, webhook_id))

    async def delete(self, principal: Principal, webhook_id: str) -> Webhook:
        _require(principal, Scope.WEBHOOKS_WRITE)
        rec = await self._get(principal, webhook_id)
        await self.store.webhooks.delete(principal.workspace_id, webhook_id)
        return _webhook(rec)

    async def rotate_secret(self, principal: Principal, webhook_id: str) -> WebhookWithSecret:
        _require(principal, Scope.WEBHOOKS_WRITE)
        await self._get(principal, webhook_id)
        secret = new_secret()
        await self.store.webhooks.update(
            principal.workspace_id, webhook_id, {"secret": secret}, to_us(self.clock()) or 0
        )
        rec = await self._get(principal, webhook_id)
        return WebhookWithSecret(**_webhook(rec).model_dump(), secret=secret)

    async def test(self, principal: Principal, webhook_id: str) -> WebhookQueued:
        """Queue a `webhook.test` event for this endpoint alone (its events list aside)."""
        _require(principal, Scope.WEBHOOKS_WRITE)
        await self._get(principal, webhook_id)
        event_id = await self.store.webhooks.enqueue(
            principal.workspace_id, webhook_id, "webhook.test",
            {"webhook": webhook_id, "message": "a test event from Clypt"},
            to_us(self.clock()) or 0,
        )  # fmt: skip
        return WebhookQueued(webhook=webhook_id, event_id=event_id, queued=True)

    async def deliveries(
        self, principal: Principal, webhook_id: str, limit: int = 50, cursor: str | None = None
    ) -> WebhookDeliveries:
        _require(principal, Scope.WEBHOOKS_READ)
        await self._get(principal, webhook_id)
        if not 1 <= limit <= 200:
            raise InvalidInputError("limit: give 1 to 200", field="limit")
        before = None
        if cursor is not None:
            if not cursor.isdigit():
                raise InvalidInputError(
                    "cursor: pass next_cursor unchanged, or omit it", field="cursor"
                )
            before = int(cursor)
        rows = await self.store.webhooks.attempts(principal.workspace_id, webhook_id, limit, before)
        items = [
            WebhookAttempt(
                id=a.id,
                delivery=a.delivery_id,
                event_id=a.event_id,
                event_type=a.event_type,
                time=a.at,
                status=a.status,
                error=a.error,
                duration_ms=a.duration_ms,
                delivery_status=a.delivery_status,
            )
            for a in rows
        ]
        next_cursor = str(rows[-1].id) if len(rows) == limit else None
        return WebhookDeliveries(deliveries=items, next_cursor=next_cursor)

    async def redeliver(
        self, principal: Principal, webhook_id: str, delivery: str
    ) -> WebhookQueued:
        _require(principal, Scope.WEBHOOKS_WRITE)
        await self._get(principal, webhook_id)
        ok = await self.store.webhooks.redeliver(
            principal.workspace_id, webhook_id, delivery, to_us(self.clock()) or 0
        )
        if not ok:
            raise NotFoundError(
                f"delivery '{delivery}' of webhook '{webhook_id}' not found — list its deliveries",
                field="delivery",
            )
        return WebhookQueued(webhook=webhook_id, event_id=None, queued=True)


@dataclass(frozen=True)
class Outcome:
    """What to do with a delivery after an attempt."""

    outcome: str  # delivered | retry | failed
    next_at: int | None = None  # µs, for retry
    disable_reason: str | None = None


class DeliveryRules:
    """Rendering, signing and the retry schedule; the sending is the caller's."""

    def __init__(
        self,
        render_link: Callable[[LinkRecord], Link],
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.render_link = render_link
        self.rng = rng

    def event(self, msg: OutgoingMessage) -> dict[str, Any]:
        """The event `{id, type, timestamp, data}` with snake_case keys (REST camelizes)."""
        data = msg.data
        if "conversion" in data:  # #15: the conversion as POST /conversions answers it
            rec = data["conversion"]
            data = to_conversion(rec, rec.code).model_dump(mode="json", exclude={"duplicate"})
        elif "link" in data:
            rendered = self.render_link(data["link"]).model_dump(mode="json")
            if "permanent" in data:
                rendered["permanent"] = data["permanent"]
            data = rendered
        at = _iso(to_us(msg.event_at) or 0)
        return {"id": msg.event_id, "type": msg.event_type, "timestamp": at, "data": data}

    def body(self, msg: OutgoingMessage, camelize: Callable[[Any], Any]) -> str:
        """The request body: the event as JSON, keys in camelCase. Data the store keeps as
        the wire's JSON already (click batches) is spliced in as it is."""
        if "wire" in msg.data:
            at = _iso(to_us(msg.event_at) or 0)
            head = body_json({"id": msg.event_id, "type": msg.event_type, "timestamp": at})
            return head[:-1] + ',"data":' + str(msg.data["wire"]) + "}"
        return body_json(camelize(self.event(msg)))

    @staticmethod
    def sign(secret: str, msg_id: str, at: datetime, body: str) -> dict[str, str]:
        """The Standard Webhooks headers of one attempt."""
        from standardwebhooks.webhooks import Webhook as Signer

        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Signer(secret).sign(msg_id, at, body),
        }

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """Seconds before the next try after `attempts` failed ones: 5 s, then ×4 each time up
        to 4 hours, ±30 % jitter; `Retry-After` when the receiver gave one (up to 4 hours)."""
        if retry_after is not None and retry_after >= 0:
            return float(min(retry_after, MAX_BACKOFF))
        base: float = min(FIRST_RETRY * 4.0 ** max(attempts - 1, 0), MAX_BACKOFF)
        return base * (0.7 + 0.6 * self.rng())

    def after_failure(
        self, msg: OutgoingMessage, at: datetime, failing_since: int | None,
        retry_after: float | None, error: str,
    ) -> Outcome:  # fmt: skip
        """Retry (the last time 24 hours after the first attempt), then give up; disable the
        endpoint once it has failed for 24 hours (its other deliveries wait for it to be
        enabled again)."""
        now = to_us(at) or 0
        window = int(RETRY_WINDOW.total_seconds() * 1e6)
        disable = None
        if failing_since is not None and now - failing_since >= window:
            disable = f"every delivery failed for 24 hours (last: {error}); fix it and enable it"
        first = msg.first_try_at if msg.first_try_at is not None else now
        if now - first >= window:
            return Outcome("failed", None, disable)
        delay = int(self.backoff(msg.attempts + 1, retry_after) * 1e6)
        return Outcome("retry", min(now + delay, first + window), disable)


def _iso(us: int) -> str:
    from clypt_mcp.store.base import from_us

    value = from_us(us)
    assert value is not None
    return value.isoformat().replace("+00:00", "Z")


def body_json(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
