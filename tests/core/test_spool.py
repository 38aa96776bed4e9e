"""The click spool: owner-only, bounded, replayed into the store once per click id."""

from __future__ import annotations

import json
import logging
import shutil
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.outage import StoreHealth, guarded
from clypt_mcp.core.redirects import LinkCache
from clypt_mcp.core.service import ClyptService
from clypt_mcp.core.spool import ClickSpool, from_line, store_tag
from clypt_mcp.errors import StoreUnavailableError
from clypt_mcp.models import ClickEvent, LinkCreate, Principal
from clypt_mcp.store.base import Store
from tests.conftest import BASE_URL

pytestmark = pytest.mark.anyio


async def _link(store: Store, code: str = "spooled") -> str:
    made = await ClyptService(store, base_url=BASE_URL).create_link(
        Principal(workspace_id="default"), LinkCreate(url="https://example.com/", code=code)
    )
    return made.id


def _clicks(link_id: str, n: int) -> list[ClickEvent]:
    start = datetime.now(UTC) - timedelta(minutes=5)
    return [
        ClickEvent(
            link_id=link_id,
            workspace_id="default",
            at=start + timedelta(seconds=i),
            visitor=f"v{i}",
            country="DE",
            referrer="news.example.org",
        )
        for i in range(n)
    ]


async def test_spool_is_owner_only_json_lines_and_replays_each_click_once(
    store: Store, tmp_path: Path
) -> None:
    link_id = await _link(store)
    spool = ClickSpool(tmp_path / "state" / "clypt", "abc")
    assert await spool.append(_clicks(link_id, 30)) == 30
    [path] = spool.files()
    assert "spool" in path.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    lines = path.read_text().splitlines()
    ids = {json.loads(line)["id"] for line in lines}
    assert len(lines) == len(ids) == 30
    assert from_line(lines[3])[1].visitor == "v3"
    copy = tmp_path / "copy.jsonl"
    shutil.copy(path, copy)

    report = await spool.replay(store)
    assert (report.files, report.clicks, report.skipped) == (1, 30, 0)
    assert spool.files() == []
    assert await store.count_clicks("default", link_id, None) == 30

    # the same file again (a crash after the commit, before the file went): nothing new
    shutil.copy(copy, path)
    report = await spool.replay(store)
    assert (report.clicks, report.skipped) == (0, 30)
    assert await store.count_clicks("default", link_id, None) == 30
    rec = await store.get_link("default", link_id=link_id)
    assert rec is not None and rec.clicks == 30


async def test_a_spooled_click_keeps_its_click_id_for_conversions(
    store: Store, tmp_path: Path
) -> None:
    """#15: a tracked link's visit spooled while the database was away keeps the click id its
    visitor's landing page got, so a conversion can name it once the click is replayed."""
    link_id = await _link(store, "tracked")
    spool = ClickSpool(tmp_path / "state" / "clypt", "abc")
    click = _clicks(link_id, 1)[0]
    click.click_id = "spooledClick0001"
    assert await spool.append([click]) == 1
    report = await spool.replay(store)
    assert report.clicks == 1
    found = await store.click_by_id("default", "spooledClick0001")
    assert found is not None and found.link_id == link_id and found.country == "DE"


async def test_a_torn_last_line_is_skipped_and_logged(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link_id = await _link(store)
    spool = ClickSpool(tmp_path, "abc")
    await spool.append(_clicks(link_id, 5))
    spool.close()
    [path] = spool.files()
    with path.open("a") as f:
        f.write('{"id":"0123","at":"2026-')  # killed mid-write
    with caplog.at_level(logging.WARNING, logger="clypt_mcp.core.spool"):
        report = await spool.replay(store)
    assert (report.clicks, report.torn) == (5, 1)
    assert "its last line" in caplog.text
    assert await store.count_clicks("default", link_id, None) == 5


async def test_the_spool_is_bounded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = ClickSpool(tmp_path, "abc", max_bytes=2000)
    with caplog.at_level(logging.ERROR):
        kept = await spool.append(_clicks("l1", 100))
    assert 0 < kept < 100 and spool.dropped == 100 - kept
    assert await spool.append(_clicks("l1", 10)) == 0
    assert sum(p.stat().st_size for p in spool.files()) <= 2000
    assert "spool is full" in caplog.text
    spool.close()


async def test_a_spool_held_by_a_live_process_is_left_alone(store: Store, tmp_path: Path) -> None:
    link_id = await _link(store)
    writer = ClickSpool(tmp_path, "abc")
    await writer.append(_clicks(link_id, 3))  # still open: its owner is alive
    other = ClickSpool(tmp_path, "abc")
    assert (await other.replay(store)).files == 0
    assert await store.count_clicks("default", link_id, None) == 0
    assert (await writer.replay(store)).clicks == 3  # the owner closes it first


def test_store_tag_ignores_the_password() -> None:
    a = store_tag("postgresql://app:secret@db:5432/clypt")
    assert a == store_tag("postgresql://app:other@db:5432/clypt")
    assert a != store_tag("postgresql://app:secret@db:5432/another")


class BrokenStore:
    """The real store whose writes fail as a read-only SQLite file's do, until `fixed`."""

    def __init__(self, store: Store) -> None:
        self.inner = store  # what a spool replay writes through
        self.store = store
        self.fixed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    async def record_clicks(self, events: list[ClickEvent]) -> None:
        if not self.fixed:
            raise OSError(30, "Read-only file system")
        await self.store.record_clicks(events)

    async def count_request(self, key: str, start: int, limit: int) -> int | None:
        if not self.fixed:
            raise OSError(30, "Read-only file system")
        return await self.store.count_request(key, start, limit)

    async def get_link(self, *args: object, **kwargs: object) -> object:
        if not self.fixed:
            raise OSError(30, "Read-only file system")
        return await self.store.get_link(*args, **kwargs)  # type: ignore[arg-type]

    async def link_on_domain(self, *args: object, **kwargs: object) -> object:
        if not self.fixed:
            raise OSError(30, "Read-only file system")
        return await self.store.link_on_domain(*args, **kwargs)  # type: ignore[arg-type]


async def test_recorder_spools_while_the_store_is_down_and_replays_when_it_is_back(
    store: Store, tmp_path: Path
) -> None:
    link_id = await _link(store)
    broken = BrokenStore(store)
    health = StoreHealth(broken, "test store")  # type: ignore[arg-type]
    guard = guarded(broken, health)  # type: ignore[arg-type]
    assert isinstance(guard, BrokenStore)  # code that asks the store's kind still can
    spool = ClickSpool(tmp_path, "abc")
    recorder = ClickRecorder(guard, interval=0.01, spool=spool, health=health)
    async with anyio.create_task_group() as tg:
        tg.start_soon(recorder.run)
        for event in _clicks(link_id, 40):
            recorder.record(event)
        with anyio.fail_after(5):
            while recorder.spooled < 40:  # noqa: ASYNC110 - polls another task's counter
                await anyio.sleep(0.01)
        assert not health.up and "Read-only" in health.describe()["reason"]
        with pytest.raises(StoreUnavailableError):  # fails fast while down
            await guard.count_clicks("default", None, None)
        broken.fixed = True
        assert await health.probe()
        with anyio.fail_after(10):
            while recorder.replayed < 40:  # noqa: ASYNC110 - polls another task's counter
                await anyio.sleep(0.05)
        recorder.close()
    assert spool.files() == []
    assert await store.count_clicks("default", link_id, None) == 40
    assert health.describe() == {"ok": True}


async def test_link_cache_answers_from_the_last_known_good_copy(store: Store) -> None:
    await _link(store, "known")
    broken = BrokenStore(store)
    broken.fixed = True
    cache = LinkCache(broken, ttl=0.0)  # type: ignore[arg-type]
    link = await cache.get("known")
    assert link is not None
    broken.fixed = False
    health = StoreHealth(broken, "test")  # type: ignore[arg-type]
    cache.store = guarded(broken, health)  # type: ignore[arg-type]
    assert await cache.get("known") == link  # the store is away: the last copy
    assert cache.served_stale == 1
    with pytest.raises(StoreUnavailableError):
        await cache.get("never-seen")


@pytest.mark.serial  # a wall-clock bound
async def test_a_quiet_store_is_probed_once_its_last_success_is_probe_up_seconds_old(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outage is seen at most PROBE_UP_SECONDS (plus the probe) after the last success, not
    up to twice that: a beat that woke just before the mark used to wait a whole beat more."""
    monkeypatch.setattr("clypt_mcp.core.outage.PROBE_UP_SECONDS", 1.0)
    health = StoreHealth(store, "test store")
    async with anyio.create_task_group() as tg:
        tg.start_soon(health.run)
        await anyio.sleep(0.1)
        health.mark_up()  # a write succeeded just after the loop went to sleep
        written = health.last_ok
        with anyio.fail_after(5):
            while health.last_ok == written:  # noqa: ASYNC110 - polls another task's state
                await anyio.sleep(0.01)
        probed = time.monotonic() - written  # the probe's own success moved last_ok
        health.close()
    assert 1.0 <= probed < 1.5, probed
