"""One rule decides a link's status (models.unavailable_because): the service's status, the
redirect's answer and the stores' status filters all agree with it, in its order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from clypt_mcp.core.redirects import CompiledLink
from clypt_mcp.core.service import link_status
from clypt_mcp.models import (
    LinkStatus,
    UnavailableReason,
    new_id,
    status_of,
    unavailable_because,
)
from clypt_mcp.store.base import LinkFilter, LinkRecord, Store

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAST, FUTURE = NOW - timedelta(days=1), NOW + timedelta(days=1)


def records() -> list[LinkRecord]:
    """Every combination of the fields the rule reads (starts and expiry on both sides of now,
    the click limit spent or not)."""
    out: list[LinkRecord] = []
    for deleted, disabled, starts, expires, limit in itertools.product(
        (False, True),
        (False, True),
        (None, PAST, FUTURE),
        (None, PAST, FUTURE),
        (None, (3, 2), (3, 3)),
    ):
        out.append(
            LinkRecord(
                id=new_id("lnk"),
                workspace_id="default",
                code=f"s{len(out)}",
                url="https://example.com/",
                created_at=PAST - timedelta(days=1),
                updated_at=PAST - timedelta(days=1),
                starts_at=starts,
                expires_at=expires,
                max_clicks=limit[0] if limit else None,
                redirects=limit[1] if limit else 0,
                disabled=disabled,
                deleted_at=PAST if deleted else None,
            )
        )
    return out


def rule(rec: LinkRecord) -> UnavailableReason | None:
    return unavailable_because(
        deleted=rec.deleted_at is not None,
        disabled=rec.disabled,
        starts_at=rec.starts_at,
        expires_at=rec.expires_at,
        max_clicks=rec.max_clicks,
        redirects=rec.redirects,
        now=NOW,
    )


def test_the_rule_goes_in_one_order() -> None:
    # a scheduled link whose click limit is spent (a bulk import can make one) is spent first;
    # an expired one that was disabled shows disabled
    spent = LinkRecord(
        id="lnk_s", workspace_id="default", code="s", url="https://example.com/",
        created_at=PAST, updated_at=PAST, starts_at=FUTURE, max_clicks=3, redirects=3,
    )  # fmt: skip
    assert rule(spent) == "click_limit" and link_status(spent, NOW) == "expired"
    off = LinkRecord(
        id="lnk_x", workspace_id="default", code="x", url="https://example.com/",
        created_at=PAST, updated_at=PAST, expires_at=PAST, disabled=True,
    )  # fmt: skip
    assert rule(off) == "disabled" and link_status(off, NOW) == "disabled"
    assert status_of(None) == "active" and status_of("scheduled") == "scheduled"


def test_the_service_and_the_redirect_agree_with_the_rule() -> None:
    for rec in records():
        reason = rule(rec)
        assert CompiledLink.from_record(rec).unavailable(NOW) == reason, rec
        assert link_status(rec, NOW) == status_of(reason), rec


@pytest.mark.anyio
async def test_the_store_filters_agree_with_the_rule(store: Store) -> None:
    await store.ensure_workspace("default", NOW)
    for rec in records():
        await store.insert_link(rec, [])
    kept = {}  # what the store holds of each link, and the status the rule gives it
    for rec in records():
        found = await store.get_link("default", code=rec.code)
        assert found is not None
        kept[found.id] = link_status(found, NOW)
    statuses: tuple[LinkStatus, ...] = ("active", "scheduled", "expired", "disabled", "deleted")
    for status in statuses:
        flt = LinkFilter(workspace_id="default", status=status)
        listed, total = await store.list_links(flt, "code", 1000, None, NOW)
        assert {r.id for r in listed} == {i for i, s in kept.items() if s == status}, status
        assert total == len(listed)
    assert set(kept.values()) == set(statuses)
