"""ClickRecorder: every queued click reaches the store, in batches, and none after close()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ClickEvent, LinkCreate, Principal
from clypt_mcp.store.base import Store
from tests.conftest import BASE_URL

pytestmark = pytest.mark.anyio


class CountingStore:
    """The real store, with the size of each batch it was handed noted down."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batches: list[int] = []
        self.wrote = anyio.Event()

    async def record_clicks(self, events: list[ClickEvent]) -> None:
        await self.store.record_clicks(events)
        self.batches.append(len(events))
        self.wrote.set()
        self.wrote = anyio.Event()


async def _link(store: Store) -> str:
    made = await ClyptService(store, base_url=BASE_URL).create_link(
        Principal(workspace_id="default"), LinkCreate(url="https://example.com/")
    )
    return made.id


def _click(link_id: str, i: int) -> ClickEvent:
    at = datetime.now(UTC) - timedelta(seconds=i)
    return ClickEvent(link_id=link_id, workspace_id="default", at=at, visitor=f"v{i}")


async def test_close_drains_the_queue_in_batches(store: Store) -> None:
    link_id = await _link(store)
    counting = CountingStore(store)
    recorder = ClickRecorder(counting, batch_size=7, interval=0.01)  # type: ignore[arg-type]
    for i in range(50):
        recorder.record(_click(link_id, i))
    recorder.close()
    with anyio.fail_after(10):
        await recorder.run()
    assert recorder.written == 50
    assert counting.batches == [7] * 7 + [1]
    assert await store.count_clicks("default", None, None) == 50


async def test_a_click_on_an_idle_recorder_is_written_within_the_interval(store: Store) -> None:
    link_id = await _link(store)
    counting = CountingStore(store)
    recorder = ClickRecorder(counting, interval=0.05)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        tg.start_soon(recorder.run)
        await anyio.wait_all_tasks_blocked()  # the writer now waits for a first click
        for i in range(2):  # and, the second time, again after a write
            wrote = counting.wrote
            recorder.record(_click(link_id, i))
            with anyio.fail_after(5):
                await wrote.wait()
        recorder.close()
    assert counting.batches == [1, 1]
    assert await store.count_clicks("default", None, None) == 2


async def test_no_click_is_taken_after_close(store: Store) -> None:
    link_id = await _link(store)
    recorder = ClickRecorder(store)
    recorder.close()
    with pytest.raises(anyio.ClosedResourceError):
        recorder.record(_click(link_id, 0))
    with anyio.fail_after(5):
        await recorder.run()
    assert recorder.written == 0
