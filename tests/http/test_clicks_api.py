"""GET /api/v1/clicks: the click log over REST, camelCase, cursor-paged, scope analytics:read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ClickEvent, Scope
from tests.http.conftest import KeyFactory
from tests.http.rest import Api

pytestmark = pytest.mark.anyio


async def test_click_log_pages_with_next_cursor_and_filters(
    api: Api, admin_key: str, make_key: KeyFactory, service: ClyptService
) -> None:
    link = (await api.post("/links", admin_key, json={"url": "https://e.com/1"})).json()
    now = service.clock()
    await service.store.record_clicks(
        [
            ClickEvent(
                link_id=link["id"], workspace_id="default", at=now - timedelta(seconds=i),
                country="FR" if i % 2 else "US", device="mobile", referrer="news.example.com",
                visitor=f"visitorhash{i:04d}", traffic="qr" if i % 5 == 0 else "human",
            )
            for i in range(45)
        ]
    )  # fmt: skip
    seen: list[dict[str, Any]] = []
    params: dict[str, str] = {"link": link["code"], "limit": "20"}
    while True:
        r = await api.get("/clicks", admin_key, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"clicks", "nextCursor"}
        seen.extend(body["clicks"])
        if body["nextCursor"] is None:
            break
        params["cursor"] = body["nextCursor"]
    assert len(seen) == 45 and len({c["id"] for c in seen}) == 45
    assert [c["time"] for c in seen] == sorted((c["time"] for c in seen), reverse=True)
    assert seen[0]["code"] == link["code"] and seen[0]["referrer"] == "news.example.com"
    assert "visitorhash" not in r.text and "visitor" not in seen[0]
    fr = (await api.get("/clicks", admin_key, params={"country": "fr", "limit": "100"})).json()
    assert len(fr["clicks"]) == 22 and {c["country"] for c in fr["clicks"]} == {"FR"}
    qr = (await api.get("/clicks", admin_key, params={"traffic": "qr", "limit": "100"})).json()
    assert len(qr["clicks"]) == 9

    bad = await api.get("/clicks", admin_key, params={"device": "phone"})
    assert bad.status_code == 422 and "device" in bad.text
    unknown = await api.get("/clicks", admin_key, params={"ip": "1.2.3.4"})
    assert unknown.status_code == 400 and "ip" in unknown.text
    reader = await make_key(Scope.LINKS_READ)
    denied = await api.get("/clicks", reader)
    assert denied.status_code == 403 and "analytics:read" in denied.text
