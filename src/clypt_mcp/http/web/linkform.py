"""The dashboard's link form: every field of a link, variants and routing rules included.

Repeated rows (A/B variants, country rules) are posted as repeated fields (`variant_url`,
`variant_weight`, `variant_label`; `geo_country`, `geo_url`) in row order; a row whose URL is
empty is ignored. On edit an emptied field clears it, as `null` does over REST and MCP; the
password is never shown, an empty one keeps it and "Remove the password" clears it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from clypt_mcp.errors import InvalidInputError
from clypt_mcp.http.web.forms import Form
from clypt_mcp.models import MAX_VARIANTS, DeviceKind, Link

TEXT_FIELDS = (
    "url",
    "code",
    "title",
    "tags",
    "folder",
    "notes",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "starts_at",
    "expires_at",
    "max_clicks",
)
CLEARABLE = ("title", "folder", "notes", "utm_source", "utm_medium", "utm_campaign", "utm_term",
             "utm_content")  # fmt: skip
DEVICE_KINDS: tuple[str, ...] = get_args(DeviceKind)
DEVICE_LABELS = {
    "ios": "iPhone and iPad (iOS)",
    "android": "Android",
    "desktop": "Desktop",
    "mobile": "Other phones",
    "tablet": "Other tablets",
}
MAX_GEO_ROWS = 50
SPARE_ROWS = 2  # empty rows offered below the filled ones


@dataclass
class VariantRow:
    url: str = ""
    weight: str = ""
    label: str = ""


@dataclass
class GeoRow:
    country: str = ""
    url: str = ""


@dataclass
class LinkForm:
    """What the form shows and what was posted, as text."""

    text: dict[str, str] = field(default_factory=dict)
    variants: list[VariantRow] = field(default_factory=list)
    geo: list[GeoRow] = field(default_factory=list)
    devices: dict[str, str] = field(default_factory=dict)
    disabled: bool = False
    has_password: bool = False
    password: str = ""  # posted only, never shown back
    remove_password: bool = False

    def __getattr__(self, name: str) -> str:  # templates read form.url, form.title, …
        if name in TEXT_FIELDS:
            return self.text.get(name, "")
        raise AttributeError(name)

    def value(self, name: str) -> str:
        return self.text.get(name, "")

    @classmethod
    def from_link(cls, link: Link) -> LinkForm:
        def when(moment: datetime | None) -> str:
            return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if moment else ""

        text = {
            "url": link.url,
            "code": link.code,
            "title": link.title or "",
            "tags": ", ".join(link.tags),
            "folder": link.folder or "",
            "notes": link.notes or "",
            "starts_at": when(link.starts_at),
            "expires_at": when(link.expires_at),
            "max_clicks": str(link.max_clicks) if link.max_clicks else "",
        }
        for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"):
            text[name] = getattr(link, name) or ""
        return cls(
            text=text,
            variants=[VariantRow(v.url, str(v.weight), v.label or "") for v in link.variants or []],
            geo=[GeoRow(c, u) for c, u in (link.geo or {}).items()],
            devices=dict(link.devices or {}),
            disabled=link.disabled,
            has_password=link.has_password,
        )

    @classmethod
    def from_form(cls, form: Form, *, has_password: bool = False) -> LinkForm:
        urls, weights, labels = (form.all(f"variant_{n}") for n in ("url", "weight", "label"))
        variants = [VariantRow(u, _at(weights, i), _at(labels, i)) for i, u in enumerate(urls)][
            :MAX_VARIANTS
        ]
        countries, geo_urls = form.all("geo_country"), form.all("geo_url")
        geo = [GeoRow(c, _at(geo_urls, i)) for i, c in enumerate(countries)][:MAX_GEO_ROWS]
        return cls(
            text={name: form.get(name) for name in TEXT_FIELDS},
            variants=[v for v in variants if v.url or v.label or v.weight],
            geo=[g for g in geo if g.country or g.url],
            devices={k: form.get(f"device_{k}") for k in DEVICE_KINDS if form.get(f"device_{k}")},
            disabled=form.has("disabled"),
            has_password=has_password,
            password=form.fields.get("password", [""])[0],  # as typed: spaces count
            remove_password=form.has("remove_password"),
        )

    # --- what the template lays out ------------------------------------------------------

    def variant_rows(self) -> list[VariantRow]:
        spare = min(SPARE_ROWS, MAX_VARIANTS - len(self.variants))
        return [*self.variants, *(VariantRow() for _ in range(max(0, spare)))]

    def geo_rows(self) -> list[GeoRow]:
        spare = min(SPARE_ROWS, MAX_GEO_ROWS - len(self.geo))
        return [*self.geo, *(GeoRow() for _ in range(max(0, spare)))]

    def device_rows(self) -> list[tuple[str, str, str]]:
        return [(k, DEVICE_LABELS[k], self.devices.get(k, "")) for k in DEVICE_KINDS]

    # --- what LinkCreate / LinkUpdate validate ---------------------------------------------

    def data(self, *, editing: bool) -> dict[str, Any]:
        """The link input: on edit, an emptied field clears it (null).

        Raises:
            InvalidInputError: for a number that is not one, a date that is not one, or a
                routing row with half its fields.
        """
        t = self.text
        data: dict[str, Any] = {"url": t.get("url", "")}
        if t.get("code"):
            data["code"] = t["code"]
        for name in CLEARABLE:
            if t.get(name) or editing:
                data[name] = t.get(name) or None
        tags = [x.strip() for x in t.get("tags", "").split(",") if x.strip()]
        if tags or editing:
            data["tags"] = tags
        for name in ("starts_at", "expires_at"):
            if t.get(name):
                data[name] = _moment(name, t[name])
            elif editing:
                data[name] = None
        if t.get("max_clicks"):
            data["max_clicks"] = _whole("max_clicks", t["max_clicks"])
        elif editing:
            data["max_clicks"] = None
        if self.password:
            data["password"] = self.password
        elif editing and self.remove_password:
            data["password"] = None
        variants = []
        for n, row in enumerate(self.variants, 1):
            if not row.url:
                raise InvalidInputError(
                    f"variants: variant {n} needs a destination URL (or leave its row empty)",
                    field="variants",
                )
            variant: dict[str, Any] = {"url": row.url}
            if row.weight:
                variant["weight"] = _whole(f"variants: variant {n} weight", row.weight)
            if row.label:
                variant["label"] = row.label
            variants.append(variant)
        if variants or editing:
            data["variants"] = variants or None
        geo: dict[str, str] = {}
        for n, g in enumerate(self.geo, 1):
            if not (g.country and g.url):
                raise InvalidInputError(
                    f"geo: country rule {n} needs both a two-letter country code and a URL",
                    field="geo",
                )
            geo[g.country] = g.url
        if geo or editing:
            data["geo"] = geo or None
        if self.devices or editing:
            data["devices"] = dict(self.devices) or None
        if editing:
            data["disabled"] = self.disabled
        return data


def _at(values: list[str], i: int) -> str:
    return values[i] if i < len(values) else ""


def _whole(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        field_name = name.split(":")[0]
        raise InvalidInputError(f"{name}: must be a whole number", field=field_name) from None


def _moment(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(
            f"{name}: give a date and time such as 2026-12-31T23:59", field=name
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
