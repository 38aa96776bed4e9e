"""PATCH /api/v1/links/bulk and POST /api/v1/links/bulk-delete: camelCase at every level, the
dry run's token, per-item results by index."""

from __future__ import annotations

import pytest

from tests.http.rest import Api

pytestmark = pytest.mark.anyio


async def test_bulk_endpoints_speak_camel_case_and_bind_the_token(api: Api, admin_key: str) -> None:
    for i in range(3):
        body = {"url": f"https://e.com/{i}", "code": f"rest{i}", "tags": ["batch"]}
        assert (await api.post("/links", admin_key, json=body)).status_code == 201
    sel = {"filter": {"tag": "batch"}, "changes": {"addTags": ["done"], "title": "T"}}
    preview = (await api.patch("/links/bulk", admin_key, json=sel)).json()
    assert preview["dryRun"] is True and preview["count"] == 3 and preview["token"]
    run = await api.patch("/links/bulk", admin_key,
                          json=sel | {"dryRun": False, "token": preview["token"]})  # fmt: skip
    assert run.status_code == 200, run.text
    assert run.json()["changed"] == 3 and run.json()["noLongerMatching"] == []
    snake = await api.patch("/links/bulk", admin_key,
                            json={"links": ["rest0"], "changes": {"add_tags": ["x"]}})  # fmt: skip
    assert snake.status_code == 400 and "changes.addTags" in snake.text
    gone = await api.post("/links/bulk-delete", admin_key,
                          json={"links": ["rest0", "nope"], "dryRun": False})  # fmt: skip
    results = gone.json()["results"]
    assert [r["status"] for r in results] == ["changed", "error"] and results[1]["index"] == 1
