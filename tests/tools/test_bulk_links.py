"""bulk_update_links and bulk_delete_links over MCP (embedded and remote backends, SQLite and
PostgreSQL): the dry run's token binds its set, add/remove tags and delete/restore 1,000
links, per-item results by index, permanent deletes guarded."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ALL_SCOPES, LinkQuery, LinkUpdate, Principal, Scope
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio

WHO = Principal(workspace_id="default", scopes=ALL_SCOPES)


async def _call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def _make(service: ClyptService, n: int, tag: str, prefix: str) -> list[str]:
    codes: list[str] = []
    for start in range(0, n, 100):
        items = [{"url": f"https://e.com/{prefix}/{i}", "code": f"{prefix}{i:04d}", "tags": [tag]}
                 for i in range(start, min(n, start + 100))]  # fmt: skip
        made = await service.bulk_create_links(WHO, items)
        assert not made.errors
        codes.extend(link.code for link in made.created)
    return codes


async def _count(service: ClyptService, **filters: Any) -> int:
    return (await service.list_links(WHO, LinkQuery(limit=1, **filters))).total


async def test_token_binds_the_dry_run_set_and_a_changed_link_is_reported(
    make_server: ServerFactory, service: ClyptService
) -> None:
    codes = await _make(service, 6, "spring-sale", "sp")
    await _make(service, 3, "other", "ot")
    async with Client(await make_server()) as client:
        args = {"filter": {"tag": "spring-sale"},
                "changes": {"disabled": True, "folder": "Archive"}}  # fmt: skip
        preview = await _call(client, "bulk_update_links", args)
        assert preview["dry_run"] is True and preview["count"] == 6
        assert sorted(preview["links"]) == codes
        assert await _count(service, folder="Archive") == 0  # a dry run changes nothing
        # changed elsewhere: no longer matches the filter
        await service.update_link(WHO, codes[2], LinkUpdate(tags=["summer"]))
        await _make(service, 1, "spring-sale", "late")  # matches now, was not shown
        run = await _call(client, "bulk_update_links",
                          args | {"dry_run": False, "token": preview["token"]})  # fmt: skip
        assert run["changed"] == 5 and run["no_longer_matching"] == [codes[2]]
        assert [r["status"] for r in run["results"]] == ["changed"] * 5
        moved = await service.list_links(WHO, LinkQuery(folder="Archive", limit=100))
        assert sorted(link.code for link in moved.links) == sorted(set(codes) - {codes[2]})
        assert all(link.disabled for link in moved.links)
        late = await service.get_link(WHO, "late0000")
        assert not late.disabled and late.folder is None
        # a token of another change or altered is refused, naming token
        token = preview["token"]
        altered = token[:-2] + ("00" if token[-2:] != "00" else "11")  # never the token itself
        for bad in ({"changes": {"disabled": False}}, {"token": altered}):
            sent = args | {"dry_run": False, "token": preview["token"]} | bad
            out = await client.call_tool("bulk_update_links", sent)
            assert out.is_error and "token" in str(out.content[0])
        no_token = await client.call_tool("bulk_update_links", args | {"dry_run": False})
        assert no_token.is_error and "token" in str(no_token.content[0])


async def test_add_and_remove_tags_on_1000_links_with_per_item_results(
    make_server: ServerFactory, service: ClyptService
) -> None:
    codes = await _make(service, 1000, "spring", "bk")
    async with Client(await make_server()) as client:
        links = [*codes[:500], "no-such-link", *codes[500:999]]  # 1,000 items, one bad
        run = await _call(client, "bulk_update_links", {
            "links": links, "dry_run": False,
            "changes": {"add_tags": ["q4", "Archive"], "remove_tags": ["SPRING"]},
        })  # fmt: skip
    assert run["changed"] == 999
    results = run["results"]
    assert [r["index"] for r in results] == list(range(1000))
    bad = results[500]
    assert bad["status"] == "error" and "no-such-link" in bad["error"]
    assert results[0] == {"index": 0, "link": codes[0], "status": "changed", "error": None}
    assert await _count(service, tag="q4") == 999
    assert await _count(service, tag="spring") == 1  # the one not named keeps its tag
    assert (await service.get_link(WHO, codes[5])).tags == ["Archive", "q4"]


async def test_1000_links_deleted_and_restored_and_permanent_delete_guarded(
    make_server: ServerFactory, service: ClyptService
) -> None:
    await _make(service, 1000, "gone", "dl")
    async with Client(await make_server()) as client:
        sel = {"filter": {"tag": "gone"}}
        preview = await _call(client, "bulk_delete_links", sel)
        assert preview["count"] == 1000 and len(preview["links"]) == 20
        run = await _call(client, "bulk_delete_links",
                          sel | {"dry_run": False, "token": preview["token"]})  # fmt: skip
        assert run["changed"] == 1000
        assert await _count(service, tag="gone") == 0
        assert await _count(service, tag="gone", status="deleted") == 1000
        back = {"filter": {"tag": "gone", "status": "deleted"}, "changes": {"deleted": False}}
        preview = await _call(client, "bulk_update_links", back)
        run = await _call(client, "bulk_update_links",
                          back | {"dry_run": False, "token": preview["token"]})  # fmt: skip
        assert run["changed"] == 1000 and await _count(service, tag="gone") == 1000

        two = {"links": ["dl0000", "dl0001"], "permanent": True, "dry_run": False}
        refused = await client.call_tool("bulk_delete_links", two)
        assert refused.is_error and "confirm" in str(refused.content[0])
        assert await _count(service, tag="gone") == 1000
        run = await _call(client, "bulk_delete_links", two | {"confirm": True})
        assert run["changed"] == 2 and await _count(service, tag="gone", status="all") == 998
    writer = frozenset(ALL_SCOPES - {Scope.LINKS_DELETE})
    async with Client(await make_server(writer)) as client:
        out = await client.call_tool(
            "bulk_delete_links",
            {"links": ["dl0002"], "permanent": True, "confirm": True, "dry_run": False},
        )
        assert out.is_error and "links:delete" in str(out.content[0])
    assert await _count(service, tag="gone", status="all") == 998


async def test_bulk_changes_start_each_links_own_ab_test(
    make_server: ServerFactory, service: ClyptService
) -> None:
    """#15 in bulk: track_conversions and ab_test are changes like the others; each link's test
    starts from its own variants, and a link that could not run it is an error item that stays
    as it was while the rest change."""
    two = [{"url": "https://e.com/a", "label": "A"}, {"url": "https://e.com/b", "label": "B"}]
    made = await service.bulk_create_links(WHO, [
        {"url": "https://e.com/x", "code": "abx", "tags": ["ab"], "variants": two},
        {"url": "https://e.com/y", "code": "aby", "tags": ["ab"], "variants": two},
        {"url": "https://e.com/z", "code": "abz", "tags": ["ab"]},  # no variants
    ])  # fmt: skip
    assert not made.errors
    async with Client(await make_server()) as client:
        spec = {"goal": "purchase", "min_visitors_per_variant": 100}
        run = await _call(client, "bulk_update_links", {
            "links": ["abx", "aby", "abz"], "dry_run": False,
            "changes": {"track_conversions": True, "ab_test": spec},
        })  # fmt: skip
        assert run["changed"] == 2
        assert [r["status"] for r in run["results"]] == ["changed", "changed", "error"]
        assert "two variants" in run["results"][2]["error"]
        for code in ("abx", "aby"):
            link = await service.get_link(WHO, code)
            assert link.track_conversions and link.ab_test is not None
            assert link.ab_test.status == "running" and link.ab_test.goal == "purchase"
            assert [v.label for v in link.ab_test.variants] == ["A", "B"]
        untouched = await service.get_link(WHO, "abz")
        assert not untouched.track_conversions and untouched.ab_test is None
        ended = await _call(client, "bulk_update_links", {
            "links": ["abx", "aby"], "dry_run": False, "changes": {"ab_test": None},
        })  # fmt: skip
        assert ended["changed"] == 2
        assert (await service.get_link(WHO, "abx")).ab_test is None
        assert (await service.get_link(WHO, "aby")).track_conversions  # the rest stays
