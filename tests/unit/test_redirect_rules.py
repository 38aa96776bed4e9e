"""Redirect rules without HTTP: UTM merging, ASCII locations, destination choice, the cache."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from clypt_mcp.core.redirects import CompiledLink, LinkCache, merge_utm, to_location
from clypt_mcp.store.base import LinkRecord

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
UTM = {"utm_source": "news", "utm_medium": "email"}


def record(**fields: Any) -> LinkRecord:
    base: dict[str, Any] = {
        "id": "lnk_1",
        "workspace_id": "default",
        "code": "spring",
        "url": "https://example.com/",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return LinkRecord(**(base | fields))


@pytest.mark.parametrize(
    ("url", "merged"),
    [
        ("https://e.com/p", "https://e.com/p?utm_source=news&utm_medium=email"),
        ("https://e.com/p?", "https://e.com/p?utm_source=news&utm_medium=email"),
        (
            "https://e.com/p?a=1&b=x%20y",
            "https://e.com/p?a=1&b=x%20y&utm_source=news&utm_medium=email",
        ),
        # the link's value replaces the destination's, in place; no key appears twice
        (
            "https://e.com/?utm_source=old&a=1",
            "https://e.com/?utm_source=news&a=1&utm_medium=email",
        ),
        (
            "https://e.com/?utm_source=1&utm_source=2",
            "https://e.com/?utm_source=news&utm_medium=email",
        ),
        (
            "https://e.com/?utm_campaign=keep",
            "https://e.com/?utm_campaign=keep&utm_source=news&utm_medium=email",
        ),
        ("https://e.com/p#frag?x", "https://e.com/p?utm_source=news&utm_medium=email#frag?x"),
        ("https://e.com/p?q=1#f", "https://e.com/p?q=1&utm_source=news&utm_medium=email#f"),
        ("https://e.com/?flag&a=", "https://e.com/?flag&a=&utm_source=news&utm_medium=email"),
    ],
)
def test_utm_parameters_are_merged_into_the_query(url: str, merged: str) -> None:
    assert merge_utm(url, UTM) == merged


def test_without_utm_fields_the_destination_is_untouched() -> None:
    assert merge_utm("https://e.com/?a=1&&b", {}) == "https://e.com/?a=1&&b"


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("https://bücher.de/straße?q=ä#ü", "https://xn--bcher-kva.de/stra%C3%9Fe?q=%C3%A4#%C3%BC"),
        ("https://例え.jp:8443/パス", "https://xn--r8jz45g.jp:8443/%E3%83%91%E3%82%B9"),
        ("https://e.com/a%20b?x=%E2%82%AC", "https://e.com/a%20b?x=%E2%82%AC"),
    ],
)
def test_locations_are_ascii_with_punycode_hosts(url: str, location: str) -> None:
    assert to_location(url) == location


def test_country_rule_beats_device_rule_beats_variants_beats_url() -> None:
    link = CompiledLink.from_record(
        record(
            geo={"DE": "https://e.de/"},
            devices={"ios": "https://apps.apple.com/x"},
            variants=[{"url": "https://e.com/a", "weight": 1, "label": "a"}],
            utm_source="news",
        )
    )
    rng = random.Random(1)
    assert link.choose("DE", ("ios",), rng).location == "https://e.de/?utm_source=news"
    assert link.choose("FR", ("ios",), rng).location == "https://apps.apple.com/x?utm_source=news"
    chosen = link.choose(None, ("desktop",), rng)
    assert (chosen.location, chosen.variant) == ("https://e.com/a?utm_source=news", "a")
    plain = CompiledLink.from_record(record())
    assert plain.choose("DE", ("ios",), rng).location == "https://example.com/"
    assert plain.choose("DE", ("ios",), rng).variant is None


def test_variants_follow_their_weights() -> None:
    link = CompiledLink.from_record(
        record(
            variants=[
                {"url": "https://e.com/a", "weight": 1, "label": "a"},
                {"url": "https://e.com/b", "weight": 3},
            ]
        )
    )
    rng = random.Random(7)
    seen = Counter(link.choose(None, ("desktop",), rng).variant for _ in range(20_000))
    assert set(seen) == {"a", "#2"}  # an unlabelled variant is recorded by its position
    assert abs(seen["a"] / 20_000 - 0.25) < 0.02


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),
        ({"deleted_at": NOW, "disabled": True}, "deleted"),
        ({"disabled": True, "expires_at": NOW}, "disabled"),
        ({"starts_at": NOW + timedelta(seconds=1)}, "scheduled"),
        ({"starts_at": NOW}, None),
        ({"expires_at": NOW}, "expired"),
        ({"expires_at": NOW + timedelta(seconds=1)}, None),
        ({"max_clicks": 3, "redirects": 3}, "click_limit"),
        ({"max_clicks": 3, "redirects": 2}, None),
    ],
)
def test_why_a_link_does_not_redirect(fields: dict[str, Any], reason: str | None) -> None:
    assert CompiledLink.from_record(record(**fields)).unavailable(NOW) == reason


class CountingStore:
    """Just enough of a Store for the cache: counts lookups."""

    def __init__(self) -> None:
        self.lookups = 0
        self.url = "https://example.com/one"

    async def get_link(
        self, workspace_id: str | None, *, link_id: str | None = None, code: str | None = None
    ) -> LinkRecord | None:
        self.lookups += 1
        return record(code=code, url=self.url) if code == "spring" else None

    async def link_on_domain(self, domain_id: str | None, code: str) -> LinkRecord | None:
        """What the cache asks: the code on a domain (only the server's own host here)."""
        return await self.get_link(None, code=code) if domain_id is None else None


@pytest.mark.anyio
async def test_the_link_cache_keeps_links_and_misses_for_its_ttl() -> None:
    store = CountingStore()
    now = [100.0]
    cache = LinkCache(store, ttl=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    first = await cache.get("spring")
    assert first is not None and first.default.location == "https://example.com/one"
    assert await cache.get("nope") is None
    store.url = "https://example.com/two"
    assert await cache.get("spring") is first
    assert await cache.get("nope") is None
    assert store.lookups == 2
    now[0] += 1.01
    again = await cache.get("spring")
    assert again is not None and again.default.location == "https://example.com/two"
    assert store.lookups == 3


@pytest.mark.anyio
async def test_codes_that_cannot_exist_never_reach_the_store() -> None:
    store = CountingStore()
    cache = LinkCache(store, ttl=0)  # type: ignore[arg-type]
    for code in ["", "a" * 65, "with space", "<script>", "ünï", "x.y"]:
        assert await cache.get(code) is None
    assert store.lookups == 0


class GatedStore(CountingStore):
    """A store whose lookups wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = anyio.Event()

    async def get_link(
        self, workspace_id: str | None, *, link_id: str | None = None, code: str | None = None
    ) -> LinkRecord | None:
        await self.gate.wait()
        return await super().get_link(workspace_id, link_id=link_id, code=code)


@pytest.mark.anyio
async def test_one_lookup_per_code_runs_at_a_time() -> None:
    store = GatedStore()
    now = [100.0]
    cache = LinkCache(store, ttl=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    seen: list[str] = []

    async def visit() -> None:
        link = await cache.get("spring")
        assert link is not None
        seen.append(link.default.location)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(visit)
            await anyio.wait_all_tasks_blocked()
            store.gate.set()
    assert store.lookups == 1 and len(seen) == 20

    # once it is stale, one visit refreshes it while the others get the previous answer
    now[0] += 2
    store.gate = anyio.Event()
    store.url = "https://example.com/two"
    seen.clear()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(visit)
            await anyio.wait_all_tasks_blocked()
            for _ in range(5):
                await visit()
            store.gate.set()
    assert store.lookups == 2
    assert seen == ["https://example.com/one"] * 5 + ["https://example.com/two"]


@pytest.mark.anyio
async def test_the_link_cache_forgets_codes_no_longer_asked_for() -> None:
    store = CountingStore()
    now = [100.0]
    cache = LinkCache(store, ttl=1.0, max_size=1000, clock=lambda: now[0])  # type: ignore[arg-type]
    for i in range(50):
        await cache.get(f"code-{i}")
    assert len(cache._entries) == 50
    now[0] += 5  # long past every entry's expiry
    await cache.get("spring")
    assert list(cache._entries) == [("", "spring")]  # (domain: the server's own, code)
    for i in range(1200):
        await cache.get(f"more-{i}")
    assert len(cache._entries) == 1000
