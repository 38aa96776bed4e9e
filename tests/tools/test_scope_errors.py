"""A call the scopes do not allow says what to change: CLYPT_SCOPES for an embedded server,
the API key for one that has a key (REST, /mcp, remote mode)."""

from __future__ import annotations

import pytest
from mcp import Client

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import InsufficientScopeError
from clypt_mcp.models import LinkCreate, Principal, Scope, parse_scopes
from clypt_mcp.tools.server import build_server
from tests.conftest import text

pytestmark = pytest.mark.anyio

# The README's desktop snippet, before links:delete was added to it.
WITHOUT_DELETE = "links:read,links:write,analytics:read,tags:write,folders:write"


async def test_permanent_delete_without_links_delete_says_to_edit_clypt_scopes(
    service: ClyptService,
) -> None:
    scopes = parse_scopes(WITHOUT_DELETE)
    backend = LocalBackend(service, Principal(workspace_id="default", scopes=scopes))
    await backend.create_link(LinkCreate(url="https://example.com/x", code="gone"))
    async with Client(build_server(lambda: backend, scopes)) as client:
        r = await client.call_tool("delete_link", {"link": "gone", "permanent": True})
    assert r.is_error
    assert "'links:delete'" in text(r) and "add links:delete to CLYPT_SCOPES" in text(r)
    assert (await backend.get_link("gone")).status == "active"  # nothing changed


async def test_a_key_without_the_scope_is_told_to_use_another_key(service: ClyptService) -> None:
    keyed = Principal(workspace_id="default", key_id="key_1", scopes=frozenset({Scope.LINKS_READ}))
    with pytest.raises(InsufficientScopeError) as caught:
        await service.create_link(keyed, LinkCreate(url="https://example.com/y"))
    assert "this API key does not have" in caught.value.message
    assert "--scopes" in caught.value.message and "CLYPT_API_KEY" in caught.value.message
    assert "CLYPT_SCOPES" not in caught.value.message
