"""manage_webhooks (#16) over both backends: the secret only from create and rotate_secret,
bad input as isError results."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from clypt_mcp.core.service import ClyptService
from tests.conftest import text

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def loopback_allowed(service: ClyptService) -> None:
    """As CLYPT_DEV_ALLOW_LOOPBACK=true: the receiver URLs here are on 127.0.0.1."""
    service.webhooks.allow_loopback = True


async def test_manage_webhooks_round_trip(client: Client) -> None:
    made = await client.call_tool(
        "manage_webhooks",
        {"action": "create", "url": "http://127.0.0.1:9/hook", "events": ["link.created"]},
    )
    assert not made.is_error, text(made)
    hook = made.structured_content
    assert hook is not None and hook["secret"].startswith("whsec_")
    listed = await client.call_tool("manage_webhooks", {"action": "list"})
    assert not listed.is_error and "whsec_" not in json.dumps(listed.structured_content)
    assert "whsec_" not in text(listed)
    updated = await client.call_tool(
        "manage_webhooks", {"action": "update", "webhook": hook["id"], "enabled": False}
    )
    assert updated.structured_content is not None
    assert updated.structured_content["enabled"] is False
    assert "whsec_" not in json.dumps(updated.structured_content)
    rotated = await client.call_tool(
        "manage_webhooks", {"action": "rotate_secret", "webhook": hook["id"]}
    )
    assert rotated.structured_content is not None
    assert rotated.structured_content["secret"] not in ("", hook["secret"])
    queued = await client.call_tool("manage_webhooks", {"action": "test", "webhook": hook["id"]})
    assert not queued.is_error, text(queued)
    attempts = await client.call_tool(
        "manage_webhooks", {"action": "deliveries", "webhook": hook["id"]}
    )
    assert attempts.structured_content == {"deliveries": [], "next_cursor": None}
    deleted = await client.call_tool("manage_webhooks", {"action": "delete", "webhook": hook["id"]})
    assert not deleted.is_error
    again = await client.call_tool("manage_webhooks", {"action": "delete", "webhook": hook["id"]})
    assert again.is_error and "not found" in text(again)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"action": "create"}, "url"),
        ({"action": "create", "url": "https://10.0.0.1/x"}, "private"),
        ({"action": "update"}, "webhook"),
        ({"action": "redeliver", "webhook": "whk_x"}, "delivery"),
        ({"action": "create", "url": "http://127.0.0.1:9/", "events": ["nope"]}, "events"),
    ],
)
async def test_bad_input_is_an_error_result(
    client: Client, args: dict[str, object], words: str
) -> None:
    r = await client.call_tool("manage_webhooks", args)
    assert r.is_error and words in text(r)
    listed = await client.call_tool("manage_webhooks", {"action": "list"})
    assert listed.structured_content == {"webhooks": []}
