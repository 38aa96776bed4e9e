"""Rate limits counted in memory and in the store answer alike: same verdicts, same headers."""

from __future__ import annotations

import uuid

import anyio
import httpx2
import pytest

from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.http.ratelimit import RateLimiter, StoreRateLimiter, Verdict
from clypt_mcp.store.base import Store
from clypt_mcp.store.postgres import PostgresStore
from tests.conftest import BASE_URL

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_store_counters_give_the_in_memory_verdicts(store: Store) -> None:
    clock = Clock(1_800_000_030.4)  # 29.6 s before a minute ends
    memory = RateLimiter(3, 60, clock)
    shared = StoreRateLimiter(store, 3, 60, clock)
    key = f"key_{uuid.uuid4().hex}"
    seen: list[tuple[Verdict, Verdict]] = []
    for step in (0.0, 1.0, 1.0, 1.0, 10.0, 16.0, 1.0, 1.0):  # the window turns at +29.6 s
        clock.now += step
        seen.append((memory.hit(key), await shared.check(key)))
    for mine, theirs in seen:
        assert mine == theirs
        assert mine.headers() == theirs.headers()
    assert [v.allowed for v, _ in seen] == [True, True, True, False, False, False, True, True]
    assert seen[3][0].headers()["Retry-After"] == "27"
    assert seen[6][0].remaining == 2


async def test_a_zero_limit_allows_nothing(store: Store) -> None:
    verdict = await StoreRateLimiter(store, 0, 60).check(f"key_{uuid.uuid4().hex}")
    assert not verdict.allowed and verdict.remaining == 0


async def test_the_app_shares_counters_on_postgresql_or_when_asked(service: ClyptService) -> None:
    settings = Settings(base_url=BASE_URL)
    app = create_app(service, settings, with_mcp=False, store=service.store, clock=service.clock)
    shared = isinstance(service.store, PostgresStore)
    assert isinstance(app.state.limiter, StoreRateLimiter if shared else RateLimiter)
    app = create_app(
        service,
        settings,
        with_mcp=False,
        shared_limits=True,
        store=service.store,
        clock=service.clock,
    )
    assert isinstance(app.state.limiter, StoreRateLimiter)


async def test_shared_counters_answer_the_same_headers_and_429(
    service: ClyptService, admin_key: str
) -> None:
    settings = Settings(base_url=BASE_URL, rate_limit="2/hour")
    recorder = ClickRecorder(service.store)
    app = create_app(
        service,
        settings,
        recorder,
        with_mcp=False,
        shared_limits=True,
        store=service.store,
        clock=service.clock,
    )
    auth = {"authorization": f"Bearer {admin_key}"}
    async with (
        anyio.create_task_group() as tg,
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http,
    ):
        tg.start_soon(recorder.run)
        answers = [await http.get("/api/v1/tags", headers=auth) for _ in range(3)]
        recorder.close()
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["1", "0", "0"]
    assert {r.headers["X-RateLimit-Limit"] for r in answers} == {"2"}
    assert len({r.headers["X-RateLimit-Reset"] for r in answers}) == 1
    assert "Retry-After" not in answers[1].headers
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 3600
    assert answers[2].json()["code"] == "rate_limited"
