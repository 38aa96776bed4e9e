"""The webhook delivery worker of `serve`, and its SSRF-safe client (httpx2).

Each pass leases endpoints that have due deliveries (`store.webhooks.claim`), sends each
endpoint's deliveries in event order, one at a time, and settles every attempt (logged with its
status, time and error). The client resolves the host first, refuses private, loopback (unless
`CLYPT_DEV_ALLOW_LOOPBACK=true`), link-local and metadata addresses, then connects to the address
it checked (the name stays in `Host` and TLS's SNI, so a second DNS answer cannot steer it);
redirects are never followed (a 3xx is a failure), the answer is read up to MAX_ANSWER bytes,
and an attempt takes at most TIMEOUT seconds.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import anyio

from clypt_mcp.core.service import ClyptService
from clypt_mcp.core.webhooks import (
    ATTEMPTS_KEPT,
    AddressRefused,
    DeliveryRules,
    resolve_public,
)
from clypt_mcp.errors import UnavailableError
from clypt_mcp.http.wire import camelize
from clypt_mcp.store.base import OutgoingMessage, to_us

if TYPE_CHECKING:
    import httpx2  # noqa: TID251 (delivers webhooks to the customer's endpoints)

log = logging.getLogger(__name__)
TIMEOUT = 10.0
MAX_ANSWER = 64 * 1024
LEASE = timedelta(seconds=30)  # a killed worker's endpoints are claimable again within this
BATCH = 50


async def post(
    http: httpx2.AsyncClient, url: str, headers: dict[str, str], body: str, allow_loopback: bool
) -> tuple[int | None, str | None, float | None]:
    """POST `body` to `url`: `(status, error, retry_after seconds)`; an error for anything but
    a 2xx answer."""
    import httpx2  # noqa: TID251 (loaded by the first delivery, not by every `serve`)

    try:
        addresses = await resolve_public(url, allow_loopback)
    except AddressRefused as exc:
        return None, str(exc).removeprefix("url: "), None
    parts = urlsplit(url)
    host = parts.hostname or ""
    address = addresses[0]
    netloc = f"[{address}]" if ":" in address else address
    if parts.port:
        netloc += f":{parts.port}"
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    sent = {**headers, "host": parts.netloc.rsplit("@", 1)[-1],
            "content-type": "application/json", "user-agent": "Clypt-Webhooks/1"}  # fmt: skip
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    try:
        with anyio.fail_after(TIMEOUT):
            async with http.stream(
                "POST", target, content=body.encode(), headers=sent, extensions=extensions
            ) as response:
                read = 0
                async for chunk in response.aiter_bytes():
                    read += len(chunk)
                    if read > MAX_ANSWER:
                        break
                status = response.status_code
                retry_after = _retry_after(response.headers.get("retry-after"))
    except TimeoutError:
        return None, f"no answer within {TIMEOUT:.0f} s", None
    except httpx2.HTTPError as exc:
        return None, f"could not connect: {type(exc).__name__}", None
    if 200 <= status < 300:
        return status, None, None
    if 300 <= status < 400:
        return status, f"HTTP {status}: redirects are not followed", retry_after
    return status, f"HTTP {status}", retry_after


def _client() -> httpx2.AsyncClient:
    import httpx2  # noqa: TID251 (loaded by the first delivery, not by every `serve`)

    return httpx2.AsyncClient(follow_redirects=False, timeout=TIMEOUT)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class DeliveryWorker:
    """Delivers pending webhook events until `close()`."""

    def __init__(
        self,
        service: ClyptService,
        allow_loopback: bool,
        clock: Callable[[], datetime] | None = None,
        poll: float = 0.5,
        rules: DeliveryRules | None = None,
    ) -> None:
        self.hooks = service.webhooks
        self.outbox = service.webhooks.outbox
        self.allow_loopback = allow_loopback
        self.clock = clock or service.clock
        self.poll = poll
        self.rules = rules or DeliveryRules(service.to_link)
        self.owner = f"w_{secrets.token_hex(8)}"
        self.attempts = 0
        self._stop = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._http: httpx2.AsyncClient | None = None
        self._running = False
        self._swept = 0.0
        self._purged = 0.0

    def close(self) -> None:
        """Stop now: an attempt in flight is abandoned (its lease lapses and it is sent again,
        with the same webhook-id), so a shutdown never waits for a slow receiver."""
        self._stop.set()
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> None:
        with anyio.CancelScope() as self._scope:
            if self._stop.is_set():
                return
            self._running = True
            try:
                while not self._stop.is_set():
                    try:
                        await self.housekeeping()
                        busy = await self.run_once()
                    except UnavailableError as exc:  # the store is away: a line, not a traceback
                        log.warning("webhook delivery waits for the store: %s", exc.message)
                        busy = False
                    except Exception:
                        log.exception("webhook delivery pass failed; trying again")
                        busy = False
                    if not busy:
                        with anyio.move_on_after(self.poll):
                            await self._stop.wait()
            finally:
                self._running = False
                http, self._http = self._http, None
                if http is not None:
                    with anyio.CancelScope(shield=True):
                        await http.aclose()

    async def housekeeping(self) -> None:
        """`link.expired` events every few seconds; old attempts and deliveries hourly."""
        now, tick = self.clock(), time.monotonic()
        if self._swept and tick - self._swept < 5:
            return
        self._swept = tick
        await self.outbox.emit_expired(to_us(now) or 0)
        if not self._purged or tick - self._purged >= 3600:
            self._purged = tick
            await self.outbox.purge(to_us(now - ATTEMPTS_KEPT) or 0, 5000)

    async def run_once(self) -> bool:
        """One pass over the endpoints with due deliveries; whether there were any.

        The HTTP client is made for the first delivery (so a `serve` that sends no webhook
        never loads httpx2) and kept while `run()` runs; a pass on its own closes its client."""
        now = self.clock()
        ids = await self.outbox.claim(
            self.owner, to_us(now) or 0, to_us(now + LEASE) or 0, limit=20
        )
        if not ids:
            return False
        if self._http is None and not self._running:
            async with _client() as http:
                self._http = http
                try:
                    await self._deliver(ids)
                finally:
                    self._http = None
            return True
        if self._http is None:
            self._http = _client()
        await self._deliver(ids)
        return True

    async def _deliver(self, ids: list[str]) -> None:
        async with anyio.create_task_group() as tg:
            for endpoint_id in ids:
                tg.start_soon(self._deliver_endpoint, endpoint_id)

    async def _deliver_endpoint(self, endpoint_id: str) -> None:
        try:
            url, secret, messages = await self.outbox.due(
                endpoint_id, to_us(self.clock()) or 0, BATCH
            )
            for msg in messages:
                if not await self.outbox.renew(
                    endpoint_id, self.owner, to_us(self.clock() + LEASE) or 0
                ):
                    return  # the lease lapsed and another worker took the endpoint
                if not await self._attempt(endpoint_id, url, secret, msg):
                    return  # the endpoint was disabled
        finally:
            await self.outbox.release(endpoint_id, self.owner)

    async def _attempt(self, endpoint_id: str, url: str, secret: str, msg: OutgoingMessage) -> bool:
        assert self._http is not None
        at = self.clock()
        body = self.rules.body(msg, camelize)
        headers = self.rules.sign(secret, msg.event_id, at, body)
        started = time.monotonic()
        status, error, retry_after = await post(self._http, url, headers, body, self.allow_loopback)
        ms = int((time.monotonic() - started) * 1000)
        self.attempts += 1
        if error is None:
            await self.outbox.record_attempt(
                endpoint_id, msg.delivery_id, to_us(at) or 0, status, None, ms, "delivered"
            )
            return True
        failing = await self.outbox.failing_since(endpoint_id)
        outcome = self.rules.after_failure(msg, at, failing, retry_after, error)
        await self.outbox.record_attempt(
            endpoint_id, msg.delivery_id, to_us(at) or 0, status, error, ms,
            outcome.outcome, outcome.next_at, outcome.disable_reason,
        )  # fmt: skip
        log.info("webhook %s delivery %s failed: %s", endpoint_id, msg.delivery_id, error)
        return outcome.disable_reason is None
