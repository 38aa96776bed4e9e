"""The dashboard's link form over HTTP: every field, A/B variants and routing rules included."""

from __future__ import annotations

import httpx2
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import LinkQuery, Principal
from tests.http.conftest import KeyFactory
from tests.http.test_web import check_page_rules, csrf, sign_in, web  # noqa: F401 (fixture)

pytestmark = pytest.mark.anyio
OWNER = Principal(workspace_id="default")


def _form(token: str, **fields: object) -> dict[str, object]:
    empty: dict[str, object] = {
        "csrf": token, "url": "", "code": "", "title": "", "tags": "", "folder": "", "notes": "",
        "starts_at": "", "expires_at": "", "max_clicks": "", "password": "",
        "variant_url": ["", ""], "variant_weight": ["", ""], "variant_label": ["", ""],
        "geo_country": ["", ""], "geo_url": ["", ""],
    }  # fmt: skip
    return {**empty, **fields}


async def test_variants_and_routing_rules_are_made_shown_and_edited(
    web: httpx2.AsyncClient,  # noqa: F811
    service: ClyptService,
    make_key: KeyFactory,
) -> None:
    await sign_in(web, await make_key())
    token = csrf(await web.get("/app/links/new"))
    made = await web.post(
        "/app/links",
        data=_form(
            token,
            url="https://shop.example/",
            code="ab-test",
            utm_source="newsletter",
            password="open sesame",
            variant_url=["https://shop.example/a", "https://shop.example/b", ""],
            variant_weight=["3", "", ""],
            variant_label=["red", "blue", ""],
            geo_country=["de", ""],
            geo_url=["https://shop.example/de", ""],
            device_ios="https://apps.example/ios",
        ),
    )
    assert made.status_code == 303, made.text
    link = await service.get_link(OWNER, "ab-test")
    assert [(v.url, v.weight, v.label) for v in link.variants or []] == [
        ("https://shop.example/a", 3, "red"),
        ("https://shop.example/b", 1, "blue"),
    ]
    assert link.geo == {"DE": "https://shop.example/de"}
    assert link.devices == {"ios": "https://apps.example/ios"}
    assert link.utm_source == "newsletter" and link.has_password

    shown = await web.get(f"/app/links/{link.id}")
    check_page_rules(shown)
    assert "https://shop.example/b" in shown.text and "country: DE" in shown.text
    assert "open sesame" not in shown.text

    edit = await web.get(f"/app/links/{link.id}/edit")
    check_page_rules(edit)
    assert edit.text.count('name="variant_url"') == 4  # two filled, two spare
    assert 'value="https://shop.example/a"' in edit.text and 'value="red"' in edit.text
    assert 'value="DE"' in edit.text and 'value="https://apps.example/ios"' in edit.text
    assert "open sesame" not in edit.text  # a password is never shown back

    # drop variant b, change the country rule, clear the device rule; the password stays
    saved = await web.post(
        f"/app/links/{link.id}/edit",
        data=_form(
            csrf(edit),
            url="https://shop.example/",
            code="ab-test",
            variant_url=["https://shop.example/a", "", ""],
            variant_weight=["3", "", ""],
            variant_label=["red", "", ""],
            geo_country=["FR"],
            geo_url=["https://shop.example/fr"],
        ),
    )
    assert saved.status_code == 303, saved.text
    link = await service.get_link(OWNER, "ab-test")
    assert [v.label for v in link.variants or []] == ["red"]
    assert link.geo == {"FR": "https://shop.example/fr"}
    assert not link.devices and link.utm_source is None
    assert link.has_password

    # an emptied form clears them all, and "Remove the password" removes it
    edit = await web.get(f"/app/links/{link.id}/edit")
    cleared = await web.post(
        f"/app/links/{link.id}/edit",
        data=_form(csrf(edit), url="https://shop.example/", code="ab-test", remove_password="1"),
    )
    assert cleared.status_code == 303, cleared.text
    link = await service.get_link(OWNER, "ab-test")
    assert not link.variants and not link.geo and not link.has_password


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"variant_url": ["https://a.example/x"], "variant_weight": ["heavy"]}, "variants"),
        ({"variant_url": [""], "variant_label": ["lonely"]}, "variants"),
        ({"geo_country": ["DE"], "geo_url": [""]}, "geo"),
        ({"geo_country": ["Germany"], "geo_url": ["https://a.example/de"]}, "geo"),
        ({"device_ios": "ftp://a.example/"}, "devices"),
        ({"starts_at": "soon"}, "starts_at"),
    ],
)
async def test_a_bad_rule_is_named_and_changes_nothing(
    web: httpx2.AsyncClient,  # noqa: F811
    service: ClyptService,
    make_key: KeyFactory,
    fields: dict[str, object],
    named: str,
) -> None:
    await sign_in(web, await make_key())
    token = csrf(await web.get("/app/links/new"))
    answer = await web.post(
        "/app/links", data=_form(token, url="https://a.example/", code="bad-one", **fields)
    )
    assert answer.status_code in (400, 422), answer.text
    assert named in answer.text
    assert 'value="https://a.example/"' in answer.text  # the form comes back filled in
    assert (await service.list_links(OWNER, _query())).total == 0


def _query() -> LinkQuery:
    return LinkQuery(status="all")
