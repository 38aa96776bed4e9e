"""Passwords and API keys never appear in any result, error message or log line."""

from __future__ import annotations

import logging
import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import AuthenticationError
from clypt_mcp.models import ALL_SCOPES, ApiKeyCreate, ClickEvent, LinkCreate, Principal
from clypt_mcp.store.sqlite import SqliteStore
from tests.conftest import ServerFactory
from tests.store.dump import dump_all

pytestmark = pytest.mark.anyio

PASSWORD = "hunter2-Secret-Passphrase"


async def test_secrets_stay_out_of_results_errors_and_logs(
    make_server: ServerFactory,
    service: ClyptService,
    caplog: pytest.LogCaptureFixture,
    db_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with Client(await make_server(), mode="legacy") as c:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("create_link", {"url": "https://e.com/p", "code": "locked", "password": PASSWORD}),
            ("get_link", {"link": "locked"}),
            ("list_links", {}),
            ("update_link", {"link": "locked", "password": PASSWORD + "-2"}),
            ("create_link", {"url": "ftp://bad", "password": PASSWORD}),  # rejected
            ("create_link", {"url": "https://e.com/q", "password": "abc"}),  # too short
            ("create_link", {"url": "https://e.com/r", "code": "locked", "password": PASSWORD}),
            ("bulk_create_links", {"links": [{"url": "x", "password": PASSWORD}]}),
        ]
        for tool, arguments in calls:
            result = await c.call_tool(tool, arguments)
            seen.extend(str(block) for block in result.content)
            seen.append(str(result.structured_content))
    created = await service.create_api_key("default", ApiKeyCreate(name="ci"))
    seen.append(created.model_dump_json(exclude={"secret"}))
    listed = await service.list_api_keys("default")
    seen.extend(k.model_dump_json() for k in listed)
    for bad in (created.secret + "x", created.secret[:-1]):
        with pytest.raises(AuthenticationError) as err:
            await service.authenticate(bad)
        seen.append(err.value.message)
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(str(record.args) for record in caplog.records)
    blob = "\n".join(seen)
    assert "has_password" in blob  # the results were captured
    for secret in (PASSWORD, PASSWORD + "-2", "abc", created.secret, created.secret[6:30]):
        assert secret not in blob
    # nor stored in the clear
    stored = repr(await dump_all(service.store)).encode()
    if isinstance(service.store, SqliteStore):
        stored += db_path.read_bytes()
    assert PASSWORD.encode() not in stored
    assert created.secret.encode() not in stored


async def test_store_file_and_folder_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "nested" / "clypt.db"
    store = SqliteStore(path)
    await store.open()
    await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    if os.name == "posix":
        for suffix in ("-wal", "-shm"):
            side = Path(f"{path}{suffix}")
            if side.exists():
                assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0


async def test_click_log_shows_no_address_nor_visitor_hash(
    make_server: ServerFactory, service: ClyptService
) -> None:
    who = Principal(workspace_id="default", scopes=frozenset(ALL_SCOPES))
    link = await service.create_link(who, LinkCreate(url="https://e.com/s", code="logged"))
    hashes = [f"{i:02d}f3a9c1e07b5d2486" for i in range(30)]
    await service.store.record_clicks(
        [
            ClickEvent(link_id=link.id, workspace_id="default", visitor=h,
                       at=service.clock() - timedelta(minutes=i), country="FR",
                       referrer="news.example.com", city="Lyon, ARA, FR")
            for i, h in enumerate(hashes)
        ]
    )  # fmt: skip
    seen: list[str] = []
    async with Client(await make_server(), mode="legacy") as c:
        for arguments in ({}, {"link": "logged", "limit": 100}, {"country": "FR"}):
            result = await c.call_tool("list_clicks", arguments)
            assert not result.is_error
            seen.extend(str(block) for block in result.content)
            seen.append(str(result.structured_content))
            assert result.structured_content is not None
            for click in result.structured_content["clicks"]:
                assert not {"visitor", "ip", "address", "hash"} & set(click)
    blob = "\n".join(seen)
    assert "logged" in blob and "news.example.com" in blob  # the results were captured
    for h in hashes:
        assert h not in blob and h[:12] not in blob
