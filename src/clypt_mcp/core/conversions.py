"""Recording a conversion (#15): the rules between `POST /conversions` and the store.

A conversion names a click id that a tracked redirect appended. It is attributed to what that
click recorded (link, variant, country, device, referrer, the click's day). Rules, in order:
an `external_id` already used for the same event in the workspace gives the first conversion,
whatever the click id or value (so a retried or duplicated report never counts twice; the
store's unique index settles concurrent ones); the click id must name a click of this
workspace at most 90 days old (else 404 naming it); `occurred_at` (default now) may be neither
before the click nor more than 90 days after it, nor in the future (else 422).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from clypt_mcp.errors import InvalidInputError, NotFoundError
from clypt_mcp.models import CONVERSION_WINDOW_DAYS, Conversion, ConversionCreate, new_id
from clypt_mcp.store.base import EPOCH, ConversionRecord, Store

WINDOW = timedelta(days=CONVERSION_WINDOW_DAYS)
SKEW = timedelta(minutes=5)  # clocks of the customer's server and ours may differ this much


async def record(
    store: Store, now: datetime, workspace_id: str, data: ConversionCreate
) -> tuple[ConversionRecord, bool]:
    """The conversion and whether it is new. Raises NotFoundError, InvalidInputError."""
    if data.external_id is not None:
        first = await store.find_conversion(workspace_id, data.event, data.external_id)
        if first is not None:
            return first, False
    click = await store.click_by_id(workspace_id, data.click_id)
    clicked = EPOCH + timedelta(seconds=click.ts) if click is not None else None
    if click is None or click.workspace_id != workspace_id or clicked is None:
        raise NotFoundError(
            f"click_id '{data.click_id}': no click with this id in this workspace — send the "
            "clypt_cid value a tracked link's redirect gave the landing page"
        )
    if now - clicked > WINDOW:
        raise NotFoundError(
            f"click_id '{data.click_id}': the click is more than {CONVERSION_WINDOW_DAYS} days "
            "old, so it takes no more conversions"
        )
    occurred = data.occurred_at or now
    if occurred > now + SKEW:
        raise InvalidInputError("occurred_at: must not be in the future", field="occurred_at")
    if occurred < clicked - SKEW:
        raise InvalidInputError(
            f"occurred_at: must not be before the click ({clicked.isoformat()})",
            field="occurred_at",
        )
    if occurred - clicked > WINDOW:
        raise InvalidInputError(
            f"occurred_at: must be at most {CONVERSION_WINDOW_DAYS} days after the click "
            f"({clicked.isoformat()})",
            field="occurred_at",
        )
    rec = ConversionRecord(
        id=new_id("cnv"),
        workspace_id=workspace_id,
        link_id=click.link_id,
        click_id=data.click_id,
        event=data.event,
        value=data.value,
        currency=data.currency,
        external_id=data.external_id,
        occurred_at=occurred,
        created_at=now,
        click_ts=click.ts,
        variant=click.variant,
        country=click.country,
        device=click.device,
        referrer=click.referrer,
    )
    return await store.insert_conversion(rec)


def to_conversion(rec: ConversionRecord, code: str) -> Conversion:
    return Conversion(
        id=rec.id,
        event=rec.event,
        value=rec.value,
        currency=rec.currency,
        external_id=rec.external_id,
        occurred_at=rec.occurred_at,
        created_at=rec.created_at,
        click_id=rec.click_id,
        link_id=rec.link_id,
        code=rec.code or code,
        variant=rec.variant,
        country=rec.country,
        device=rec.device,
        referrer=rec.referrer,
        clicked_at=EPOCH + timedelta(seconds=rec.click_ts),
    )
