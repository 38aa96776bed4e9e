"""Workspace quotas (#14 item 5): with `--links 5` the sixth link is refused with
`quota_exceeded` (limit and use in the message) over REST, MCP and per item in
bulk_create_links; clicks past the monthly limit still redirect and show as over-quota clicks;
API calls past the daily limit are refused; GET /usage and clypt://usage show limits and use.
Without limits nothing changes. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from clypt_mcp.backends.local import LocalBackend
from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import ALL_SCOPES, LinkCreate, LinkQuery, Principal, WorkspaceLimits
from clypt_mcp.tools.server import build_server
from tests import agents
from tests.conftest import text
from tests.http.live import serve_env
from tests.http.rest import Api
from tests.http.test_redirects import IP_DE, OWNER, Harness, harness

pytestmark = pytest.mark.anyio
__all__ = ["harness"]


def limits(
    links: int | None = None, clicks: int | None = None, calls: int | None = None
) -> WorkspaceLimits:
    return WorkspaceLimits(links=links, clicks_per_month=clicks, api_calls_per_day=calls)


async def test_the_sixth_link_is_refused_over_rest_mcp_and_bulk(
    api: Api, admin_key: str, service: ClyptService
) -> None:
    await service.set_limits("default", limits(links=5))
    for i in range(5):
        r = await api.post("/links", admin_key, json={"url": f"https://e.com/{i}"})
        assert r.status_code == 201, r.text
    sixth = await api.post("/links", admin_key, json={"url": "https://e.com/6"})
    assert sixth.status_code == 403
    assert sixth.json()["code"] == "quota_exceeded"
    assert "5 links" in sixth.json()["error"] and "holds 5" in sixth.json()["error"]
    backend = LocalBackend(service, Principal(workspace_id="default", scopes=ALL_SCOPES))
    async with Client(build_server(lambda: backend, ALL_SCOPES)) as client:
        one = await client.call_tool("create_link", {"url": "https://e.com/mcp"})
        assert one.is_error and "quota_exceeded" in text(one)
        bulk = await client.call_tool(
            "bulk_create_links", {"links": [{"url": "https://e.com/a"}, {"url": "https://e.com/b"}]}
        )
        assert not bulk.is_error
        made = bulk.structured_content
        assert made is not None and made["created"] == []
        assert [(e["index"], e["code"]) for e in made["errors"]] == [
            (0, "quota_exceeded"), (1, "quota_exceeded")
        ]  # fmt: skip
        usage = json.loads((await client.read_resource("clypt://usage")).contents[0].text)  # type: ignore[union-attr]
    assert usage["links"] == 5 and usage["limits"]["links"] == 5
    assert (await service.list_links(OWNER, _all())).total == 5
    # a permanent delete frees a place; a soft delete does not
    first = (await service.list_links(OWNER, _all())).links[0]
    await service.delete_link(OWNER, first.code)
    assert (await api.post("/links", admin_key, json={"url": "https://e.com/x"})).status_code == 403
    await service.delete_link(OWNER, first.code, permanent=True)
    assert (await api.post("/links", admin_key, json={"url": "https://e.com/x"})).status_code == 201


def _all() -> LinkQuery:
    return LinkQuery(status="all", limit=100)


async def test_daily_api_calls_are_counted_and_refused_past_the_limit_but_usage_answers(
    api: Api, admin_key: str, other_key: str, service: ClyptService
) -> None:
    await service.set_limits("default", limits(calls=3))
    for _ in range(3):
        assert (await api.get("/links", admin_key)).status_code == 200
    refused = await api.get("/tags", admin_key)
    assert refused.status_code == 403 and refused.json()["code"] == "quota_exceeded"
    assert "3 API calls a day" in refused.json()["error"]
    usage = (await api.get("/usage", admin_key)).json()
    assert usage["apiCallsToday"] == 3 and usage["limits"]["apiCallsPerDay"] == 3
    # another workspace has no limits: nothing changes there
    for _ in range(5):
        assert (await api.get("/links", other_key)).status_code == 200
    theirs = (await api.get("/usage", other_key)).json()
    assert theirs["limits"] == {"links": None, "clicksPerMonth": None, "apiCallsPerDay": None}
    assert theirs["apiCallsToday"] == 0


async def test_clicks_past_the_monthly_limit_still_redirect_and_show_as_over_quota(
    harness: Harness,
) -> None:
    await harness.service.set_limits("default", limits(clicks=2))
    link = await harness.service.create_link(OWNER, LinkCreate(url="https://example.com/p"))
    for i in range(5):
        r = await harness.visit(link.code, ua=agents.DESKTOP_CHROME, ip=f"203.0.113.{i + 1}")
        assert r.status_code == 302
    await harness.visit(link.code, ua=agents.UNFURLERS["Slack"], ip=IP_DE)  # not a click
    await harness.flush()
    used = await harness.service.usage(OWNER)
    assert (used.clicks_this_month, used.over_quota_clicks) == (5, 3)
    assert used.limits.clicks_per_month == 2


def test_cli_sets_keeps_and_removes_limits(tmp_path: Path) -> None:
    db = tmp_path / "clypt.db"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "clypt_mcp", "workspaces", *args],
            env=serve_env(db), capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    assert cli("set-limits", "acme", "--links", "5", "--clicks-per-month", "1000").returncode == 0
    assert cli("set-limits", "acme", "--api-calls-per-day", "50").returncode == 0
    shown = json.loads(cli("show-limits", "acme").stdout)
    assert shown["limits"] == {"links": 5, "clicks_per_month": 1000, "api_calls_per_day": 50}
    assert cli("set-limits", "acme", "--links", "none").returncode == 0
    shown = json.loads(cli("show-limits", "acme").stdout)
    assert shown["limits"]["links"] is None and shown["limits"]["clicks_per_month"] == 1000
    bad = cli("set-limits", "acme", "--links", "-1")
    assert bad.returncode == 2 and "--links" in bad.stderr
