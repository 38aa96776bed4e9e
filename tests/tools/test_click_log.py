"""list_clicks over MCP (embedded and remote backends, SQLite and PostgreSQL): 5,000 clicks
paged with cursors, each seen once, newest first; every filter exact; no address or visitor
hash in any field."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp import Client

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import InsufficientScopeError
from clypt_mcp.models import ALL_SCOPES, ClickEvent, ClickQuery, LinkCreate, Principal, Scope
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio

COUNTRIES = ["US", "FR", "DE", None]
DEVICES = ["desktop", "mobile", "tablet", "other"]
TRAFFIC = ["human", "qr", "crawler", "ai_agent", "preview", "suspect"]
VARIANTS = ["a", "#2", None]
FIELDS = {"id", "time", "code", "variant", "country", "city", "device", "browser", "os",
          "referrer", "traffic"}  # fmt: skip
WHO = Principal(workspace_id="default", scopes=ALL_SCOPES)


async def _seed(service: ClyptService, n: int) -> datetime:
    """`n` clicks over three links (one tagged `spring`, one in folder Archive/2026, whose
    parent holds the third), many sharing a second; the time of the first."""
    svc = service
    a = await svc.create_link(WHO, LinkCreate(url="https://e.com/a", code="alpha", tags=["spring"]))
    b = await svc.create_link(WHO, LinkCreate(url="https://e.com/b", code="bravo",
                                               folder="Archive/2026"))  # fmt: skip
    c = await svc.create_link(WHO, LinkCreate(url="https://e.com/c", code="charlie",
                                               folder="Archive"))  # fmt: skip
    rnd = random.Random(17)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    links = [a, b, c]
    events = []
    for i in range(n):
        link = links[i % 3]
        events.append(
            ClickEvent(
                link_id=link.id,
                workspace_id="default",
                at=base + timedelta(seconds=rnd.randrange(0, 3000)),  # ties on purpose
                country=rnd.choice(COUNTRIES),
                device=rnd.choice(DEVICES),
                browser="Firefox",
                os="Linux",
                referrer="news.example.com",
                variant=rnd.choice(VARIANTS),
                traffic=rnd.choice(TRAFFIC),
                visitor=f"visitorhash{i:06d}deadbeef",
                city="Lyon, ARA, FR",
            )
        )
    for start in range(0, n, 1000):
        await svc.store.record_clicks(events[start : start + 1000])
    return base


async def _all(service: ClyptService, **filters: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await service.list_clicks(WHO, ClickQuery(limit=100, cursor=cursor, **filters))
        out.extend(c.model_dump(mode="json") for c in page.clicks)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


async def test_list_clicks_pages_5000_clicks_each_once_newest_first(
    make_server: ServerFactory, service: ClyptService
) -> None:
    await _seed(service, 5000)
    seen: list[dict[str, Any]] = []
    async with Client(await make_server()) as client:
        cursor = None
        pages = 0
        while True:
            args: dict[str, Any] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
            result = await client.call_tool("list_clicks", args)
            assert not result.is_error, result.content
            page = result.structured_content
            assert page is not None
            seen.extend(page["clicks"])
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert pages == 50
    assert len(seen) == 5000 and len({c["id"] for c in seen}) == 5000
    order = [(c["time"], int(c["id"])) for c in seen]
    assert order == sorted(order, reverse=True)
    for click in seen:
        assert set(click) == FIELDS
        assert "visitorhash" not in str(click)


async def test_every_filter_is_exact(service: ClyptService) -> None:
    base = await _seed(service, 1500)
    every = await _all(service)
    assert len(every) == 1500

    def want(pred: Any) -> set[str]:
        return {c["id"] for c in every if pred(c)}

    def ids(rows: list[dict[str, Any]]) -> set[str]:
        return {c["id"] for c in rows}

    assert ids(await _all(service, link="alpha")) == want(lambda c: c["code"] == "alpha")
    assert ids(await _all(service, tag="SPRING")) == want(lambda c: c["code"] == "alpha")
    assert ids(await _all(service, folder="Archive/2026")) == want(lambda c: c["code"] == "bravo")
    assert ids(await _all(service, folder="Archive")) == want(
        lambda c: c["code"] in ("bravo", "charlie")  # subfolders included
    )
    assert ids(await _all(service, country="fr")) == want(lambda c: c["country"] == "FR")
    assert ids(await _all(service, device="tablet")) == want(lambda c: c["device"] == "tablet")
    assert ids(await _all(service, traffic="qr")) == want(lambda c: c["traffic"] == "qr")
    assert ids(await _all(service, variant="#2")) == want(lambda c: c["variant"] == "#2")
    lo, hi = base + timedelta(seconds=1000), base + timedelta(seconds=1500)
    got = await _all(service, start=lo, end=hi, link="bravo", device="mobile")
    assert got and ids(got) == want(
        lambda c: (
            lo <= datetime.fromisoformat(c["time"]) < hi
            and c["code"] == "bravo"
            and c["device"] == "mobile"
        )
    )


async def test_bad_arguments_are_named_and_scope_is_needed(
    make_server: ServerFactory, service: ClyptService
) -> None:
    async with Client(await make_server()) as client:
        for args, field in (
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"device": "phone"}, "device"),
            ({"country": "FRA"}, "country"),
            ({"limit": 101}, "limit"),
            ({"link": "nosuchcode"}, "nosuchcode"),
            ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end must be"),
        ):
            result = await client.call_tool("list_clicks", args)
            assert result.is_error and field in str(result.content[0]), (args, result.content)
    reader = Principal(workspace_id="default", scopes=frozenset({Scope.LINKS_READ}))
    with pytest.raises(InsufficientScopeError, match="analytics:read"):
        await service.list_clicks(reader, ClickQuery())
    async with Client(await make_server(frozenset({Scope.LINKS_READ}))) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "list_clicks" not in names and "list_links" in names
