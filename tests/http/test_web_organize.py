"""The dashboard's tag and folder pages over HTTP: list, create, rename, move, delete."""

from __future__ import annotations

import re

import httpx2
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import LinkCreate, LinkQuery, Principal, Scope
from tests.http.conftest import KeyFactory
from tests.http.test_web import check_page_rules, csrf, sign_in, web  # noqa: F401 (fixture)

pytestmark = pytest.mark.anyio
OWNER = Principal(workspace_id="default")


async def test_tags_are_listed_created_renamed_and_deleted(
    web: httpx2.AsyncClient,  # noqa: F811
    service: ClyptService,
    make_key: KeyFactory,
) -> None:
    await service.create_link(OWNER, LinkCreate(url="https://a.example/", tags=["spring"]))
    await sign_in(web, await make_key())
    listing = await web.get("/app/tags")
    check_page_rules(listing)
    assert "spring" in listing.text and 'href="/app/analytics?tag=spring"' in listing.text

    made = await web.post(
        "/app/tags", data={"csrf": csrf(listing), "name": "autumn", "color": "#aa3300"}
    )
    assert made.status_code == 303 and made.headers["location"] == "/app/tags?done=tag-created"
    tags = {t.name: t for t in (await service.list_tags(OWNER)).tags}
    assert tags["autumn"].color == "#aa3300"

    # a bad colour is named, the form comes back filled in, nothing is made
    bad = await web.post("/app/tags", data={"csrf": csrf(listing), "name": "x", "color": "#12"})
    assert bad.status_code == 422 and "color" in bad.text and 'value="x"' in bad.text
    assert "x" not in {t.name for t in (await service.list_tags(OWNER)).tags}

    spring = tags["spring"]
    renamed = await web.post(
        f"/app/tags/{spring.id}/rename", data={"csrf": csrf(listing), "name": "summer"}
    )
    assert renamed.status_code == 303
    link = (await service.list_links(OWNER, _any())).links[0]
    assert link.tags == ["summer"]

    taken = await web.post(
        f"/app/tags/{spring.id}/rename", data={"csrf": csrf(listing), "name": "autumn"}
    )
    assert taken.status_code == 409 and "autumn" in taken.text

    gone = await web.post(f"/app/tags/{spring.id}/delete", data={"csrf": csrf(listing)})
    assert gone.status_code == 303
    assert (await service.list_links(OWNER, _any())).links[0].tags == []
    # without the token nothing is deleted
    autumn = tags["autumn"]
    refused = await web.post(f"/app/tags/{autumn.id}/delete", data={"csrf": "forged"})
    assert refused.status_code == 403
    assert "autumn" in {t.name for t in (await service.list_tags(OWNER)).tags}


async def test_folders_are_created_renamed_moved_and_deleted(
    web: httpx2.AsyncClient,  # noqa: F811
    service: ClyptService,
    make_key: KeyFactory,
) -> None:
    await service.create_link(OWNER, LinkCreate(url="https://a.example/", folder="Marketing/2026"))
    await sign_in(web, await make_key())
    listing = await web.get("/app/folders")
    check_page_rules(listing)
    assert "Marketing/2026" in listing.text
    folders = {f.path: f for f in (await service.list_folders(OWNER)).folders}

    made = await web.post(
        "/app/folders",
        data={"csrf": csrf(listing), "name": "Sales", "parent": ""},
    )
    assert made.status_code == 303
    folders = {f.path: f for f in (await service.list_folders(OWNER)).folders}
    assert "Sales" in folders

    # rename 2026 to Spring and move it under Sales
    year = folders["Marketing/2026"]
    moved = await web.post(
        f"/app/folders/{year.id}/update",
        data={"csrf": csrf(listing), "name": "Spring", "parent": folders["Sales"].id},
    )
    assert moved.status_code == 303, moved.text
    link = (await service.list_links(OWNER, _any())).links[0]
    assert link.folder == "Sales/Spring"

    # a folder cannot go into itself; that is named and changes nothing
    sales = folders["Sales"]
    page = await web.get("/app/folders")
    options = re.findall(rf'id="parent-{sales.id}".*?</select>', page.text, re.S)[0]
    assert year.id not in options  # its own subfolder is not offered
    loop = await web.post(
        f"/app/folders/{sales.id}/update",
        data={"csrf": csrf(page), "name": "Sales", "parent": year.id},
    )
    assert loop.status_code == 422 and "parent" in loop.text

    gone = await web.post(f"/app/folders/{sales.id}/delete", data={"csrf": csrf(page)})
    assert gone.status_code == 303
    assert (await service.list_links(OWNER, _any())).links[0].folder == "Spring"


async def test_a_key_without_tags_write_sees_tags_but_cannot_change_them(
    web: httpx2.AsyncClient,  # noqa: F811
    service: ClyptService,
    make_key: KeyFactory,
) -> None:
    tag = await service.create_tag(OWNER, "keep")
    await sign_in(web, await make_key(Scope.LINKS_READ, Scope.TAGS_READ))
    listing = await web.get("/app/tags")
    assert listing.status_code == 200 and "keep" in listing.text
    assert "Create a tag" not in listing.text
    token = csrf(listing)  # the sign-out form's
    refused = await web.post(f"/app/tags/{tag.id}/delete", data={"csrf": token})
    assert refused.status_code == 403 and "tags:write" in refused.text
    assert [t.name for t in (await service.list_tags(OWNER)).tags] == ["keep"]


def _any() -> LinkQuery:
    return LinkQuery(status="all")


async def test_analytics_pages_of_a_tag_and_a_folder_with_the_overlay_on_and_off(
    web: httpx2.AsyncClient,  # noqa: F811
    service: ClyptService,
    make_key: KeyFactory,
) -> None:
    await service.create_link(
        OWNER, LinkCreate(url="https://a.example/", tags=["spring"], folder="Ads")
    )
    await sign_in(web, await make_key())
    for params, heading in (
        ({"tag": "spring"}, "Analytics of tag spring"),
        ({"folder": "Ads"}, "Analytics of folder Ads"),
        ({}, "Analytics of workspace default"),
    ):
        shown = await web.get("/app/analytics", params={**params, "period": "30d"})
        check_page_rules(shown)
        assert heading in shown.text
        for name in ("Countries", "Devices", "Referrers", "Traffic", "Variants"):
            assert f'aria-label="{name}"' in shown.text, name
        assert 'class="previous"' in shown.text  # the previous period, dashed
        assert '<option value="30d" selected>' in shown.text
        hidden = await web.get(
            "/app/analytics",
            params={**params, "period": "30d", "previous": "hide", "timezone": "Europe/Paris"},
        )
        assert '<option value="hide" selected>' in hidden.text
        assert "dashed: the period before" not in hidden.text
        assert 'class="previous"' not in hidden.text
        assert "(Europe/Paris)" in hidden.text
