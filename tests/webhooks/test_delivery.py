"""#16 acceptance 1, 2 and 4 in process: a real receiver on 127.0.0.1, the real store (SQLite
and PostgreSQL), the delivery worker's passes driven by hand under a test clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import InvalidInputError, NotFoundError
from clypt_mcp.http.webhooks import DeliveryWorker
from clypt_mcp.http.wire import camelize
from clypt_mcp.models import (
    ClickEvent,
    ConversionCreate,
    LinkCreate,
    LinkUpdate,
    Principal,
    WebhookCreate,
    WebhookUpdate,
)
from clypt_mcp.store.base import Store
from tests.conftest import BASE_URL, FakeClock
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.anyio


@pytest.fixture
def wclock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def hooks_service(store: Store, wclock: FakeClock) -> ClyptService:
    service = ClyptService(store, base_url=BASE_URL, clock=wclock)
    service.webhooks.allow_loopback = True
    return service


async def drain(worker: DeliveryWorker, passes: int = 50) -> None:
    for _ in range(passes):
        if not await worker.run_once():
            return


def events_of(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    out = []
    for r in receiver.got:
        payload = Verifier(secret).verify(r.body, r.headers)  # raises on a bad signature
        assert payload["id"] == r.headers["webhook-id"]
        out.append(payload)
    return out


async def test_every_change_and_click_arrives_signed_in_order(
    hooks_service: ClyptService, store: Store, principal: Principal, wclock: FakeClock
) -> None:
    async with Receiver() as receiver:
        hook = await hooks_service.webhooks.create(principal, WebhookCreate(url=receiver.url))
        assert hook.secret.startswith("whsec_")
        link = await hooks_service.create_link(principal, LinkCreate(url="https://example.com/a"))
        await hooks_service.update_link(principal, link.id, LinkUpdate(title="Renamed"))
        await hooks_service.delete_link(principal, link.id)
        bulk = await hooks_service.bulk_create_links(
            principal, [{"url": f"https://example.com/b{i}"} for i in range(50)]
        )
        assert len(bulk.created) == 50
        target = bulk.created[0]
        clicks = [
            ClickEvent(
                link_id=target.id, workspace_id="default", at=wclock() - timedelta(seconds=i)
            )
            for i in range(100)
        ]
        await store.record_clicks(clicks)
        limited = await hooks_service.create_link(
            principal, LinkCreate(url="https://example.com/l", max_clicks=1)
        )
        assert await store.count_redirect(limited.id, wclock())
        assert not await store.count_redirect(limited.id, wclock())
        worker = DeliveryWorker(hooks_service, allow_loopback=True, clock=wclock)
        await drain(worker)
        events = events_of(receiver, hook.secret)
    types = [e["type"] for e in events]
    assert types.count("link.created") == 52
    assert types.count("link.updated") == 1
    assert types.count("link.deleted") == 1
    assert types.count("link.click_limit_reached") == 1
    clicked = [c for e in events if e["type"] == "link.clicked" for c in e["data"]["clicks"]]
    assert len(clicked) == 100 and len({c["id"] for c in clicked}) == 100
    assert all(c["linkId"] == target.id and c["code"] == target.code for c in clicked)
    stored = await store.click_page("default", target.id, None, 0, 200)
    assert sorted(c["id"] for c in clicked) == sorted(r["id"] for r in stored)
    assert all("ip" not in c and "visitor" not in c for c in clicked)
    assert len(events) == 52 + 1 + 1 + 1 + sum(1 for t in types if t == "link.clicked")
    first = [e["type"] for e in events if e["data"].get("id") == link.id]
    assert first == ["link.created", "link.updated", "link.deleted"]
    deleted = next(e for e in events if e["type"] == "link.deleted")
    assert deleted["data"]["status"] == "deleted" and deleted["data"]["permanent"] is False
    assert deleted["data"]["shortUrl"] == f"{BASE_URL}/{link.code}"
    assert len({e["id"] for e in events}) == len(events)


async def test_failed_attempts_retry_soon_with_the_same_id(
    hooks_service: ClyptService, principal: Principal, wclock: FakeClock
) -> None:
    seen: dict[str, int] = {}

    def answer(headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        n = seen.get(headers["webhook-id"], 0)
        seen[headers["webhook-id"]] = n + 1
        return (500, {}) if n == 0 else (200, {})

    async with Receiver(answer) as receiver:
        hook = await hooks_service.webhooks.create(principal, WebhookCreate(url=receiver.url))
        for i in range(5):
            await hooks_service.create_link(principal, LinkCreate(url=f"https://example.com/{i}"))
        worker = DeliveryWorker(hooks_service, allow_loopback=True, clock=wclock)
        await drain(worker)
        assert len(receiver.got) == 5 and set(seen.values()) == {1}
        wclock.advance(seconds=10)  # the first retry is due within 10 s
        await drain(worker)
        events_of(receiver, hook.secret)
    assert set(seen.values()) == {2}
    attempts = await hooks_service.webhooks.deliveries(principal, hook.id)
    statuses = sorted(a.status or 0 for a in attempts.deliveries)
    assert statuses == [200] * 5 + [500] * 5
    assert all(a.error == "HTTP 500" for a in attempts.deliveries if a.status == 500)


async def test_backoff_grows_and_honours_retry_after(hooks_service: ClyptService) -> None:
    from clypt_mcp.core.webhooks import DeliveryRules

    rules = DeliveryRules(hooks_service.to_link, rng=lambda: 1.0)
    delays = [rules.backoff(n, None) for n in range(1, 6)]
    assert delays[0] <= 10 and delays == sorted(delays) and delays[-1] > 600
    assert rules.backoff(1, 120.0) == 120.0


@pytest.mark.parametrize(
    "url",
    ["https://10.1.2.3/hook", "https://169.254.169.254/latest", "https://192.168.0.1/",
     "http://127.0.0.1:9/hook", "https://[::1]/x", "ftp://example.com/"],
)  # fmt: skip
async def test_private_addresses_are_refused_at_creation(
    store: Store, principal: Principal, url: str
) -> None:
    service = ClyptService(store, base_url=BASE_URL)
    with pytest.raises(InvalidInputError) as err:
        await service.webhooks.create(principal, WebhookCreate(url=url))
    assert str(err.value).startswith("url:")
    assert (await service.webhooks.list(principal)).webhooks == []


async def test_loopback_setting_never_allows_private_ranges(
    hooks_service: ClyptService, principal: Principal
) -> None:
    for url in ("https://10.0.0.1/", "https://169.254.169.254/"):
        with pytest.raises(InvalidInputError):
            await hooks_service.webhooks.create(principal, WebhookCreate(url=url))


async def test_a_redirect_to_metadata_is_not_followed(
    hooks_service: ClyptService, principal: Principal, wclock: FakeClock
) -> None:
    async with Receiver(lambda h, b: (302, {"location": "http://169.254.169.254/latest"})) as r:
        hook = await hooks_service.webhooks.create(principal, WebhookCreate(url=r.url))
        await hooks_service.create_link(principal, LinkCreate(url="https://example.com/x"))
        worker = DeliveryWorker(hooks_service, allow_loopback=True, clock=wclock)
        await drain(worker)
        assert len(r.got) == 1
    attempts = (await hooks_service.webhooks.deliveries(principal, hook.id)).deliveries
    assert attempts[0].status == 302 and "redirects are not followed" in (attempts[0].error or "")


async def test_delivery_refuses_when_loopback_is_not_allowed(
    hooks_service: ClyptService, principal: Principal, wclock: FakeClock
) -> None:
    async with Receiver() as r:
        hook = await hooks_service.webhooks.create(principal, WebhookCreate(url=r.url))
        await hooks_service.create_link(principal, LinkCreate(url="https://example.com/x"))
        worker = DeliveryWorker(hooks_service, allow_loopback=False, clock=wclock)
        await drain(worker)
        assert r.got == []
    attempts = (await hooks_service.webhooks.deliveries(principal, hook.id)).deliveries
    assert attempts[0].status is None and "loopback" in (attempts[0].error or "")
    assert json.dumps(attempts[0].model_dump(mode="json")).find("whsec_") == -1


async def test_retry_after_is_honoured(
    hooks_service: ClyptService, principal: Principal, wclock: FakeClock
) -> None:
    answers = iter([(429, {"retry-after": "30"})])

    def answer(headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        return next(answers, (200, {}))

    async with Receiver(answer) as receiver:
        await hooks_service.webhooks.create(principal, WebhookCreate(url=receiver.url))
        await hooks_service.create_link(principal, LinkCreate(url="https://example.com/r"))
        worker = DeliveryWorker(hooks_service, allow_loopback=True, clock=wclock)
        await drain(worker)
        wclock.advance(seconds=20)
        await drain(worker)
        assert len(receiver.got) == 1  # not before the 30 s the receiver asked for
        wclock.advance(seconds=11)
        await drain(worker)
        assert len(receiver.got) == 2
        assert receiver.got[0].headers["webhook-id"] == receiver.got[1].headers["webhook-id"]


async def test_an_endpoint_failing_for_24_hours_is_disabled_with_the_reason(
    hooks_service: ClyptService, store: Store, principal: Principal, wclock: FakeClock
) -> None:
    async with Receiver(lambda h, b: (503, {})) as receiver:
        hook = await hooks_service.webhooks.create(principal, WebhookCreate(url=receiver.url))
        await hooks_service.create_link(principal, LinkCreate(url="https://example.com/f"))
        worker = DeliveryWorker(hooks_service, allow_loopback=True, clock=wclock)
        for _ in range(40):  # retries back off: each pass moves the clock to the next one
            await drain(worker)
            wclock.advance(hours=1)
            current = await hooks_service.webhooks.get(principal, hook.id)
            if not current.enabled:
                break
        tries = len(receiver.got)
    current = await hooks_service.webhooks.get(principal, hook.id)
    assert not current.enabled
    assert current.disabled_reason is not None and "24 hours" in current.disabled_reason
    assert "HTTP 503" in current.disabled_reason
    assert 5 <= tries <= 30
    attempts = (await hooks_service.webhooks.deliveries(principal, hook.id)).deliveries
    assert attempts[0].delivery_status == "failed"  # its last retry came 24 hours after the first
    assert await store.webhooks.pending_count() == 0
    enabled = await hooks_service.webhooks.update(
        principal, hook.id, WebhookUpdate.model_validate({"enabled": True})
    )
    assert enabled.enabled and enabled.disabled_reason is None


async def test_filters_pick_the_links(
    hooks_service: ClyptService, principal: Principal, wclock: FakeClock
) -> None:
    async with Receiver() as receiver:
        by_folder = await hooks_service.webhooks.create(
            principal,
            WebhookCreate.model_validate(
                {"url": receiver.url, "events": ["link.created"], "filter": {"tag": "promo"}}
            ),
        )
        await hooks_service.create_link(principal, LinkCreate(url="https://example.com/1"))
        tagged = await hooks_service.create_link(
            principal, LinkCreate(url="https://example.com/2", tags=["Promo"])
        )
        worker = DeliveryWorker(hooks_service, allow_loopback=True, clock=wclock)
        await drain(worker)
        events = events_of(receiver, by_folder.secret)
    assert [e["data"]["id"] for e in events] == [tagged.id]


async def test_folder_filter_takes_subfolders_and_links_filter_takes_codes(
    hooks_service: ClyptService, principal: Principal, wclock: FakeClock
) -> None:
    async with Receiver() as receiver:
        await hooks_service.create_link(
            principal, LinkCreate(url="https://example.com/seed", folder="Top/Sub")
        )
        folder_hook = await hooks_service.webhooks.create(
            principal,
            WebhookCreate.model_validate(
                {"url": receiver.url, "events": ["link.updated"], "filter": {"folder": "Top"}}
            ),
        )
        outside = await hooks_service.create_link(principal, LinkCreate(url="https://e.com/o"))
        inside = await hooks_service.create_link(
            principal, LinkCreate(url="https://example.com/i", folder="Top/Sub")
        )
        links_hook = await hooks_service.webhooks.create(
            principal,
            WebhookCreate.model_validate(
                {
                    "url": receiver.url,
                    "events": ["link.updated"],
                    "filter": {"links": [outside.code]},
                }
            ),
        )
        for link in (outside, inside):
            await hooks_service.update_link(principal, link.id, LinkUpdate(title="t"))
        worker = DeliveryWorker(hooks_service, allow_loopback=True, clock=wclock)
        await drain(worker)
    got: dict[str, list[str]] = {}
    for r in receiver.got:
        for hook in (folder_hook, links_hook):
            try:
                payload = Verifier(hook.secret).verify(r.body, r.headers)
            except Exception:
                continue
            got.setdefault(hook.id, []).append(payload["data"]["id"])
    assert got == {folder_hook.id: [inside.id], links_hook.id: [outside.id]}
    with pytest.raises(NotFoundError):
        await hooks_service.webhooks.create(
            principal,
            WebhookCreate.model_validate({"url": receiver.url, "filter": {"folder": "Nope"}}),
        )


async def test_expired_links_and_permanent_deletes_send_events(
    hooks_service: ClyptService, store: Store, principal: Principal, wclock: FakeClock
) -> None:
    async with Receiver() as receiver:
        hook = await hooks_service.webhooks.create(
            principal,
            WebhookCreate.model_validate(
                {"url": receiver.url, "events": ["link.expired", "link.deleted"]}
            ),
        )
        now_us = int(wclock().timestamp() * 1e6)
        assert await store.webhooks.emit_expired(now_us) == 0  # the first sweep starts the clock
        soon = await hooks_service.create_link(
            principal,
            LinkCreate(url="https://example.com/e", expires_at=wclock() + timedelta(minutes=1)),
        )
        gone = await hooks_service.create_link(principal, LinkCreate(url="https://example.com/g"))
        await hooks_service.delete_link(principal, gone.id, permanent=True)
        wclock.advance(minutes=2)
        now_us = int(wclock().timestamp() * 1e6)
        assert await store.webhooks.emit_expired(now_us) == 1
        assert await store.webhooks.emit_expired(now_us + 1) == 0  # once
        worker = DeliveryWorker(hooks_service, allow_loopback=True, clock=wclock)
        await drain(worker)
        events = events_of(receiver, hook.secret)
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["link.expired"]["id"] == soon.id
    assert by_type["link.expired"]["status"] == "expired"
    assert by_type["link.deleted"]["id"] == gone.id and by_type["link.deleted"]["permanent"] is True


async def test_attempts_are_kept_30_days(
    hooks_service: ClyptService, store: Store, principal: Principal, wclock: FakeClock
) -> None:
    async with Receiver() as receiver:
        hook = await hooks_service.webhooks.create(principal, WebhookCreate(url=receiver.url))
        await hooks_service.create_link(principal, LinkCreate(url="https://example.com/k"))
        await drain(DeliveryWorker(hooks_service, allow_loopback=True, clock=wclock))
    assert len((await hooks_service.webhooks.deliveries(principal, hook.id)).deliveries) == 1
    day = 86_400_000_000
    now_us = int(wclock().timestamp() * 1e6)
    assert await store.webhooks.purge(now_us - 29 * day, 1000) == 0
    assert await store.webhooks.purge(now_us + 1, 1000) == 3  # attempt, delivery, event
    assert (await hooks_service.webhooks.deliveries(principal, hook.id)).deliveries == []


async def test_a_new_conversion_sends_conversion_created_once(
    hooks_service: ClyptService, store: Store, principal: Principal, wclock: FakeClock
) -> None:
    """#15 with #16: a recorded conversion reaches the endpoints that want it (filtered by its
    link like link events), as POST /conversions answers it; a repeated externalId sends
    nothing more, and an endpoint without the event gets none."""
    async with Receiver() as receiver:
        wants = await hooks_service.webhooks.create(
            principal,
            WebhookCreate.model_validate(
                {"url": receiver.url, "events": ["conversion.created"], "filter": {"tag": "promo"}}
            ),
        )
        other = await hooks_service.webhooks.create(
            principal,
            WebhookCreate.model_validate({"url": receiver.url, "events": ["link.updated"]}),
        )
        tagged = await hooks_service.create_link(
            principal,
            LinkCreate(url="https://example.com/t", tags=["Promo"], track_conversions=True),
        )
        plain = await hooks_service.create_link(
            principal, LinkCreate(url="https://example.com/p", track_conversions=True)
        )
        at = wclock() - timedelta(minutes=5)
        await store.record_clicks([
            ClickEvent(tagged.id, "default", at, country="DE", device="desktop",
                       click_id="webhookClick0001"),
            ClickEvent(plain.id, "default", at, click_id="webhookClick0002"),
        ])  # fmt: skip
        body = {"click_id": "webhookClick0001", "event": "purchase", "value": 1999,
                "currency": "EUR", "external_id": "order-77"}  # fmt: skip
        first, new = await hooks_service.record_conversion(
            principal, ConversionCreate.model_validate(body)
        )
        again, repeated = await hooks_service.record_conversion(
            principal, ConversionCreate.model_validate(body | {"value": 5})
        )
        assert new and not repeated and again.id == first.id
        await hooks_service.record_conversion(
            principal, ConversionCreate(click_id="webhookClick0002", event="signup")
        )
        worker = DeliveryWorker(hooks_service, allow_loopback=True, clock=wclock)
        await drain(worker)
        assert len(receiver.got) == 1  # one event, to `wants` only (`other` wants none)
        events = events_of(receiver, wants.secret)
    assert [e["type"] for e in events] == ["conversion.created"]
    data = events[0]["data"]
    assert data["id"] == first.id and data["event"] == "purchase"
    assert data["value"] == 1999 and data["currency"] == "EUR" and data["externalId"] == "order-77"
    assert data["clickId"] == "webhookClick0001" and data["country"] == "DE"
    assert data["linkId"] == tagged.id and data["code"] == tagged.code
    assert data == camelize(first.model_dump(mode="json", exclude={"duplicate"}))
    assert "duplicate" not in data and "ip" not in data and "visitor" not in data
    assert other.id != wants.id
