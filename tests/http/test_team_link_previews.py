"""Link previews (#14 item 4): a link with `preview` shows link unfurlers its own card (Open
Graph and Twitter Card tags, the canonical short URL, every value escaped) and is never counted
for them; people keep the redirect and are counted; without `preview` nothing changes. Runs on
SQLite and PostgreSQL with real unfurler user agents."""

from __future__ import annotations

import html
import re

import pytest

from clypt_mcp.models import AnalyticsQuery, LinkUpdate, Preview
from tests import agents
from tests.conftest import BASE_URL
from tests.http.rest import Api
from tests.http.test_redirects import IP_DE, IP_US, OWNER, Harness, harness

pytestmark = pytest.mark.anyio
__all__ = ["harness"]

FIVE = ["Slack", "Discord", "LinkedIn", "WhatsApp", "Telegram"]
HOSTILE = 'Spring <script>alert("x")</script> & "sale"'


def meta(page: str, name: str) -> str | None:
    found = re.search(rf'<meta (?:property|name)="{re.escape(name)}" content="([^"]*)">', page)
    return html.unescape(found.group(1)) if found else None


async def test_five_unfurlers_get_the_card_escaped_and_uncounted_people_get_302(
    harness: Harness,
) -> None:
    link = await harness.link(
        "https://example.com/spring?a=1",
        preview=Preview(title=HOSTILE, description="50% off <b>today</b>",
                        image="https://cdn.example.com/card.png?x=1&y=2"),
    )  # fmt: skip
    short_url = f"{BASE_URL}/{link.code}"
    for name in FIVE:
        r = await harness.visit(link.code, ua=agents.UNFURLERS[name], ip=IP_US)
        assert r.status_code == 200, name
        assert r.headers["content-type"].startswith("text/html")
        page = r.text
        assert "<script>" not in page and "<b>" not in page, name
        assert "&lt;script&gt;" in page
        assert meta(page, "og:title") == HOSTILE
        assert meta(page, "og:description") == "50% off <b>today</b>"
        assert meta(page, "og:image") == "https://cdn.example.com/card.png?x=1&y=2"
        assert meta(page, "og:url") == short_url
        assert meta(page, "twitter:card") == "summary_large_image"
        assert "example.com/spring" not in page  # the destination is not given away
    browser = await harness.visit(link.code, ua=agents.DESKTOP_CHROME, ip=IP_DE)
    assert browser.status_code == 302
    assert browser.headers["location"] == "https://example.com/spring?a=1"
    await harness.flush()
    harness.clock.advance(minutes=15)
    report = await harness.service.get_analytics(OWNER, AnalyticsQuery(link=link.code))
    assert report.clicks_in_period == 1
    assert {r.key: r.clicks for r in report.traffic} == {"preview": 5, "human": 1}
    assert (await harness.service.get_link(OWNER, link.code)).clicks == 1


async def test_without_preview_unfurlers_keep_the_redirect_and_a_cleared_preview_too(
    harness: Harness,
) -> None:
    plain = await harness.link("https://example.com/plain")
    r = await harness.visit(plain.code, ua=agents.UNFURLERS["Slack"], ip=IP_US)
    assert r.status_code == 302
    card = await harness.link(preview=Preview(title="Card"))
    r = await harness.visit(card.code, ua=agents.UNFURLERS["Discord"], ip=IP_US)
    assert r.status_code == 200 and meta(r.text, "twitter:card") == "summary"
    assert meta(r.text, "og:image") is None
    await harness.service.update_link(OWNER, card.code, LinkUpdate(preview=None))
    r = await harness.visit(card.code, ua=agents.UNFURLERS["Discord"], ip=IP_US)
    assert r.status_code == 302


async def test_a_single_use_link_with_a_card_is_not_spent_by_unfurlers(harness: Harness) -> None:
    link = await harness.link(max_clicks=1, preview=Preview(title="Invite"))
    for name in FIVE:
        r = await harness.visit(link.code, ua=agents.UNFURLERS[name], ip=IP_US)
        assert r.status_code == 200
    assert (await harness.visit(link.code, ua=agents.DESKTOP_CHROME, ip=IP_DE)).status_code == 302
    assert (await harness.visit(link.code, ua=agents.DESKTOP_CHROME, ip=IP_DE)).status_code == 410


async def test_rest_takes_preview_in_camel_case_and_refuses_a_plain_http_image(
    api: Api, admin_key: str
) -> None:
    body = {"url": "https://e.com", "preview": {"title": "T", "image": "https://i.example/x.png"}}
    made = await api.post("/links", admin_key, json=body)
    assert made.status_code == 201
    assert made.json()["preview"] == {
        "title": "T", "description": None, "image": "https://i.example/x.png"
    }  # fmt: skip
    bad = await api.post(
        "/links", admin_key, json={"url": "https://e.com", "preview": {"title": "T",
                                                                      "image": "http://i/x.png"}}
    )  # fmt: skip
    assert bad.status_code == 422 and "preview.image" in bad.json()["error"]
    assert "https" in bad.json()["error"]
    cleared = await api.patch(f"/links/{made.json()['id']}", admin_key, json={"preview": None})
    assert cleared.status_code == 200 and cleared.json()["preview"] is None
