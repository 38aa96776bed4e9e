"""#15 item 4: A/B tests that decide, over both stores, through REST and the redirects.

Visitors are simulated: each visit is a real redirect; whether a visitor converts is drawn from
a seeded random stream per variant (the n-th visitor of A converts iff the n-th draw of A's
stream is below A's true rate), so the figures the test sees do not depend on which variant
the redirect happened to draw for which visit."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx2
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core import abtests
from clypt_mcp.core import conversions as conversion_rules
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.models import AbTestSpec, AnalyticsQuery, ConversionCreate, Principal
from clypt_mcp.store.base import Store
from tests.conftest import BASE_URL
from tests.http.rest import Api
from tests.http.test_conversions import DESKTOP, params, stored_click_ids, visit

pytestmark = pytest.mark.anyio
A_URL, B_URL = "https://a.shop.example/", "https://b.shop.example/"
SEED = "clypt-15"


def people(api: Api, n: int) -> list[httpx2.AsyncClient]:
    """`n` browsers at addresses of their own: the click rate limit (60 a minute per address
    and link) would class one address's later visits as `suspect`, which are not visitors."""
    app = api.http._transport.app  # type: ignore[attr-defined]
    return [
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app, client=(f"198.51.100.{i + 1}", 40000)),
            base_url="http://clypt.test",
            headers={"user-agent": DESKTOP},
        )
        for i in range(n)
    ]


def variant_of(location: str) -> str:
    return "A" if location.startswith(A_URL) else "B"


async def ab_link(api: Api, key: str, goal: str = "purchase", **ab_test: Any) -> dict[str, Any]:
    made = await api.post(
        "/links",
        key,
        json={
            "url": "https://shop.example/",
            "trackConversions": True,
            "variants": [{"url": A_URL, "label": "A"}, {"url": B_URL, "label": "B"}],
            "abTest": {"goal": goal, **ab_test},
        },
    )
    assert made.status_code == 201, made.text
    link: dict[str, Any] = made.json()
    return link


class Visitors:
    """Sends visitors to a link in rounds and reports the purchases of those who convert."""

    def __init__(self, api: Api, key: str, service: ClyptService, link: dict[str, Any],
                 rates: dict[str, float]) -> None:  # fmt: skip
        self.api, self.key, self.service, self.link = api, key, service, link
        self.rates = rates
        self.draws = {label: random.Random(f"{SEED}-{label}") for label in rates}
        self.visits = 0
        self.by_variant = dict.fromkeys(rates, 0)
        self.browsers = people(api, 60)

    async def round(self, n: int) -> None:
        converted = []
        for _ in range(n):
            browser = self.browsers[self.visits % len(self.browsers)]
            answer = await browser.get(f"/{self.link['code']}")
            assert answer.status_code == 302, answer.text
            location = str(answer.headers["location"])
            self.visits += 1
            label = variant_of(location)
            self.by_variant[label] += 1
            if self.draws[label].random() < self.rates[label]:
                converted.append(dict(params(location))["clypt_cid"])
        await stored_click_ids(self.service, self.link["id"], self.visits)
        for click_id in converted:
            body = {"clickId": click_id, "event": "purchase", "value": 1000, "currency": "EUR"}
            answer = await self.api.post("/conversions", self.key, json=body)
            assert answer.status_code == 201, answer.text

    async def test(self) -> dict[str, Any]:
        got = await self.api.get(f"/links/{self.link['id']}", self.key)
        assert got.status_code == 200, got.text
        result: dict[str, Any] = got.json()["abTest"]
        return result


async def test_a_better_variant_wins_and_then_gets_every_visit(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    link = await ab_link(api, admin_key, minVisitorsPerVariant=100, confidence=0.95)
    assert link["abTest"]["status"] == "running"
    assert link["abTest"]["maxVisitorsPerVariant"] == 1000  # 10 × the minimum by default
    people = Visitors(api, admin_key, service, link, {"A": 0.05, "B": 0.15})
    seen = []
    while (result := await people.test())["status"] == "running" and people.visits < 2400:
        seen.append(result)
        figures = {v["label"]: v for v in result["variants"]}
        assert set(figures) == {"A", "B"}
        assert sum(v["visitors"] for v in figures.values()) == people.visits
        await people.round(50)
    assert result["status"] == "winner", result
    assert result["winner"] == "B" and result["decidedBy"] == "test"
    assert result["decidedAt"] >= result["startedAt"]
    figures = {v["label"]: v for v in result["variants"]}
    assert figures["A"]["visitors"] == figures["B"]["visitors"] >= 100  # every variant at a look
    assert figures["B"]["rate"] > figures["A"]["rate"]
    assert figures["A"]["pValue"] < 0.05 / 10  # Bonferroni over ten looks
    assert people.by_variant["A"] > 50  # both variants were drawn while the test ran
    # from now on every visit goes to the winner, and the decision stays as it was made
    people.rates = {"A": 1.0, "B": 0.0}  # figures that would now favour A change nothing
    before = dict(people.by_variant)
    await people.round(40)
    assert people.by_variant == {"A": before["A"], "B": before["B"] + 40}
    assert await people.test() == result
    analytics = (await api.get(f"/links/{link['id']}/analytics", admin_key)).json()
    assert analytics["abTest"] == result
    entries = {v["label"]: v for v in analytics["variants"]}
    assert entries["B"]["abTest"] == figures["B"] and entries["A"]["abTest"] == figures["A"]
    mcp_view = await service.get_analytics(
        Principal(workspace_id="default"), AnalyticsQuery(link=link["id"])
    )
    assert mcp_view.ab_test is not None and mcp_view.ab_test.winner == "B"


async def test_equal_rates_end_with_no_difference_and_never_a_winner(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    link = await ab_link(api, admin_key, minVisitorsPerVariant=50, maxVisitorsPerVariant=300)
    people = Visitors(api, admin_key, service, link, {"A": 0.10, "B": 0.10})
    statuses = []
    while (result := await people.test())["status"] == "running" and people.visits < 1200:
        statuses.append(result["status"])
        await people.round(60)
    assert set(statuses) == {"running"}
    assert result["status"] == "no_difference", result
    assert result.get("winner") is None
    assert {v["visitors"] for v in result["variants"]} == {300}  # only once both reached the max
    locations = {variant_of(await visit(api, link["code"])) for _ in range(30)}
    assert locations == {"A", "B"}  # no winner: the weights still draw


async def test_update_link_ends_a_test_by_hand_restarts_it_and_removes_it(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    link = await ab_link(api, admin_key, minVisitorsPerVariant=10)
    path = f"/links/{link['id']}"
    wrong = await api.patch(path, admin_key, json={"abTest": {"winner": "C"}})
    assert wrong.status_code == 422 and "'C' is not a variant" in wrong.text
    ended = (await api.patch(path, admin_key, json={"abTest": {"winner": "A"}})).json()
    assert ended["abTest"]["status"] == "winner" and ended["abTest"]["winner"] == "A"
    assert ended["abTest"]["decidedBy"] == "hand"
    assert {variant_of(await visit(api, link["code"])) for _ in range(20)} == {"A"}
    again = await api.patch(path, admin_key, json={"abTest": {"winner": "B"}})
    assert again.status_code == 422 and "already ended" in again.text
    await anyio.sleep(
        1.1
    )  # a test counts visits from the second it starts (click times are whole seconds)
    restarted = (
        await api.patch(
            path, admin_key, json={"abTest": {"goal": "signup", "minVisitorsPerVariant": 20}}
        )
    ).json()["abTest"]
    assert restarted["status"] == "running" and restarted["goal"] == "signup"
    assert (
        restarted.get("winner") is None and restarted["startedAt"] >= ended["abTest"]["decidedAt"]
    )
    assert {variant_of(await visit(api, link["code"])) for _ in range(40)} == {"A", "B"}
    await stored_click_ids(service, link["id"], 60)
    shown = (await api.get(path, admin_key)).json()["abTest"]
    assert sum(v["visitors"] for v in shown["variants"]) == 40  # only visits since the restart
    gone = (await api.patch(path, admin_key, json={"abTest": None})).json()
    assert gone.get("abTest") is None


async def test_bad_ab_tests_fail_naming_the_field_and_change_nothing(
    api: Api, admin_key: str
) -> None:
    def body(**changes: Any) -> dict[str, Any]:
        return {"url": "https://shop.example/", "trackConversions": True,
                "variants": [{"url": A_URL, "label": "A"}, {"url": B_URL, "label": "B"}],
                "abTest": {"goal": "purchase", "minVisitorsPerVariant": 100}} | changes  # fmt: skip

    cases = [
        (body(variants=None), "abTest", "two variants"),
        (body(trackConversions=False), "trackConversions", "trackConversions: true"),
        (body(abTest={"goal": "purchase"}), "minVisitorsPerVariant", "required"),
        (body(abTest={"minVisitorsPerVariant": 100}), "goal", "required"),
        (body(abTest={"goal": "purchase", "minVisitorsPerVariant": 5}), "minVisitorsPerVariant",
         "10"),
        (body(abTest={"goal": "purchase", "minVisitorsPerVariant": 100,
                      "maxVisitorsPerVariant": 5000}), "maxVisitorsPerVariant", "2000"),
        (body(abTest={"goal": "purchase", "minVisitorsPerVariant": 100, "confidence": 1.5}),
         "confidence", "0.999"),
        (body(abTest={"goal": "no spaces", "minVisitorsPerVariant": 100}), "goal", "pattern"),
        (body(abTest={"winner": "A"}), "winner", "update_link"),
        (body(variants=[{"url": A_URL, "label": "A"}, {"url": B_URL, "label": "A"}]),
         "variants", "label"),
    ]  # fmt: skip
    before = (await api.get("/links", admin_key)).json()["total"]
    for sent, field, rule in cases:
        answer = await api.post("/links", admin_key, json=sent)
        assert answer.status_code == 422, (sent, answer.text)
        assert field in answer.text and rule in answer.text, (field, rule, answer.text)
    assert (await api.get("/links", admin_key)).json()["total"] == before


def test_the_decision_rule_over_fixed_figures() -> None:
    """The z-test and the looks, without a store: a look needs every variant at its size."""
    state = abtests.new_state(
        AbTestSpec(goal="clicks", min_visitors_per_variant=100), abtests_now()
    )
    sizes = abtests.look_sizes(100, 1000)
    assert sizes == [100 * j for j in range(1, 11)]
    clear = {"A": (100, [5] * 10), "B": (100, [20] * 10)}
    assert abtests.decide(state, ["A", "B"], clear)[:2] == ("winner", "B")
    short = {"A": (99, [5] * 10), "B": (100, [20] * 10)}
    assert abtests.decide(state, ["A", "B"], short)[:2] == ("running", None)
    same = {
        "A": (1000, [10 * j for j in range(1, 11)]),
        "B": (1000, [10 * j for j in range(1, 11)]),
    }
    assert abtests.decide(state, ["A", "B"], same)[:2] == ("no_difference", None)
    assert abtests.two_proportion_p(0, 100, 0, 100) == 1.0
    assert abs(abtests.two_proportion_p(5, 100, 15, 100) - 0.0177) < 0.001


def abtests_now() -> datetime:
    return datetime(2026, 12, 5, tzinfo=UTC)


async def test_visits_alone_end_a_test_and_another_process_follows_within_a_second(
    api: Api, admin_key: str, service: ClyptService, store: Store
) -> None:
    """Nothing evaluates the test after its data come in (the conversions are written through
    the recording rules, not the service that evaluates after each): serve's periodic check
    (`check_ab_tests`) decides, and the redirects of another service on the same store (as
    another process has, with its own link cache) send every visit to the winner within a
    second."""
    link = await ab_link(api, admin_key, goal="clicks", minVisitorsPerVariant=10)
    other = ClyptService(store, base_url=BASE_URL)
    settings = Settings(base_url=BASE_URL)
    second = create_app(other, settings, ClickRecorder(store), store=store, with_mcp=False)
    browser = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=second, client=("203.0.113.9", 40000)),
        base_url="http://clypt.test",
        headers={"user-agent": DESKTOP},
    )
    first = await browser.head(f"/{link['code']}")  # its cache holds the running test now
    assert first.status_code == 302
    people = Visitors(api, admin_key, service, link, {"A": 0.0, "B": 0.0})
    b_clicks = []
    while min(people.by_variant.values()) < 10:
        before = people.by_variant["B"]
        answer = await people.browsers[people.visits % 60].get(f"/{link['code']}")
        people.visits += 1
        label = variant_of(str(answer.headers["location"]))
        people.by_variant[label] += 1
        if people.by_variant["B"] > before:
            b_clicks.append(dict(params(str(answer.headers["location"])))["clypt_cid"])
    await stored_click_ids(service, link["id"], people.visits)
    now = datetime.now(UTC)
    for click_id in b_clicks:  # every B visitor converts (any event reaches the goal)
        data = ConversionCreate(click_id=click_id, event="signup")
        await conversion_rules.record(store, now, "default", data)
    stored = await store.get_link("default", link_id=link["id"])
    assert stored is not None and stored.ab_test is not None
    assert stored.ab_test["status"] == "running"  # nothing has evaluated it since
    assert await service.check_ab_tests() == 1
    stored = await store.get_link("default", link_id=link["id"])
    assert stored is not None and stored.ab_test is not None
    assert stored.ab_test["winner"] == "B" and stored.ab_test["decided_by"] == "test"
    await anyio.sleep(1.0)
    for _ in range(20):
        answer = await browser.get(f"/{link['code']}")
        assert variant_of(str(answer.headers["location"])) == "B"
    assert await service.check_ab_tests() == 0  # decided once: nothing runs any more
    await browser.aclose()
