"""Moving in from another shortener (#17): each service's own export file read into rows, and
the rows made into links with their codes kept.

What each reader takes (docs/import.md lists the same, field by field):

- bitly: the JSON of API v4 `GET /v4/groups/{guid}/bitlinks`, `{"links": [...]}`; `id`
  (`bit.ly/CODE`) or `link` gives the code, `long_url`, `title`, `tags`, `created_at`.
  Bitly's listing has no click totals.
- dub: the CSV of Dub's "Export links"; `Short link` (or `link`), `Destination URL` (`url`),
  `Title`, `Tags` (comma-separated), `Created at`, `Clicks`.
- shortio: the JSON of `GET /api/links`, `{"links": [...]}` (or a bare array); `path`,
  `originalURL`, `title`, `tags`, `createdAt`, `shortURL`, `clicks` when present.
- rebrandly: the JSON array of `GET /v1/links`; `slashtag`, `destination`, `title`,
  `createdAt`, `clicks`, `shortUrl`, `tags` (names or `{name}` objects) when present.
- shlink: the web client's `short_urls.csv`; `shortCode`, `longUrl`, `title`, `tags` (joined
  with `|`), `createdAt`, `visits`, `shortUrl`.
- yourls: the JSON of `action=stats&filter=last&format=json`, `{"links": {"link_1": {...}}}`;
  `shorturl` (its last path segment is the code), `url`, `title`, `timestamp` (zone-less: UTC),
  `clicks` (a number or a string). `link_N` is row N.
- kutt: the JSON of `GET /api/v2/links`, `{"data": [...]}`; `address`, `target`,
  `description` (the title), `created_at`, `visit_count`, `link`.

Rows are numbered from 1 in file order (a CSV header is not a row). A row that cannot become
a link is reported with its number and why; nothing is dropped silently. An import keeps each
code; a code already in the workspace is skipped (with the link that has it), so running the
same import again creates nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from clypt_mcp.errors import (
    ClyptError,
    CodeTakenError,
    InvalidInputError,
    describe_validation_error,
)
from clypt_mcp.models import MAX_TAGS, LinkCreate, Principal

Progress = Callable[[int, int | None], Awaitable[None]]
SOURCES = ("bitly", "dub", "shortio", "rebrandly", "shlink", "yourls", "kutt")
PROGRESS_EVERY = 50


@dataclass
class ImportRow:
    """One record of an export file, as Clypt will keep it."""

    number: int
    code: str | None = None
    url: str | None = None
    title: str | None = None
    tags: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    clicks: int = 0
    short_url: str | None = None  # where it lives on the old service (for --verify)
    problem: str | None = None  # why it cannot be imported, when reading already tells


class CreatedRow(BaseModel):
    row: int
    code: str
    short_url: str


class ExistingLink(BaseModel):
    code: str
    url: str
    short_url: str


class SkippedRow(BaseModel):
    row: int
    code: str
    reason: str
    existing: ExistingLink


class InvalidRow(BaseModel):
    row: int
    code: str | None
    reason: str


class ImportReport(BaseModel):
    """Every record of the file, in one of three lists."""

    created: list[CreatedRow]
    skipped: list[SkippedRow]
    invalid: list[InvalidRow]


# --- reading --------------------------------------------------------------------------------


def parse(source: str, content: str) -> list[ImportRow]:
    """The rows of `content`, an export file of `source`.

    Raises:
        InvalidInputError: naming `content` when the file is not that service's export.
    """
    readers: dict[str, Callable[[str], list[ImportRow]]] = {
        "bitly": _bitly,
        "dub": _dub,
        "shortio": _shortio,
        "rebrandly": _rebrandly,
        "shlink": _shlink,
        "yourls": _yourls,
        "kutt": _kutt,
    }
    if source not in readers:
        raise InvalidInputError(f"source: must be one of {', '.join(SOURCES)}", field="source")
    return readers[source](content.lstrip("\ufeff"))


def _json(content: str, what: str) -> Any:
    try:
        return json.loads(content)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"content: not JSON ({exc.msg} at line {exc.lineno}) — give {what}", field="content"
        ) from None


def _records(data: Any, key: str, what: str) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get(key), list):
        return list(data[key])
    raise InvalidInputError(
        f"content: expected an object with a '{key}' array — give {what}", field="content"
    )


def _csv(content: str, needs: list[tuple[str, ...]], what: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(content))
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    for names in needs:
        if not any(n in header for n in names):
            raise InvalidInputError(
                f"content: the CSV header lacks a '{names[0]}' column — give {what}",
                field="content",
            )
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _time(value: Any) -> datetime | None:
    """An export's time: ISO 8601 (`Z`, `+00:00` or `+0000`), or `YYYY-MM-DD HH:MM:SS`, or
    Unix seconds; zone-less times are UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    parsed = datetime.fromisoformat(text)  # ValueError: the caller's row is invalid
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _count(value: Any) -> int:
    if value in (None, ""):
        return 0
    if isinstance(value, bool):
        raise ValueError("a click total must be a whole number")
    try:
        number = value if isinstance(value, int) else int(str(value).strip())
    except ValueError:
        raise ValueError(f"the click total {str(value)[:20]!r} is not a whole number") from None
    if number < 0:
        raise ValueError("a click total cannot be negative")
    return number


def _last_segment(url: str | None) -> str | None:
    if not url:
        return None
    text = url if "://" in url else "//" + url
    path = urlsplit(text).path.strip("/")
    return path.rsplit("/", 1)[-1] or None


def _tags(value: Any, sep: str = ",") -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else str(value).split(sep)
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if name is not None and str(name).strip():
            names.append(str(name).strip())
    return names


def _row(number: int, fill: Callable[[ImportRow], None]) -> ImportRow:
    """A row filled by `fill`; a value that cannot be read makes the row invalid, with why."""
    row = ImportRow(number=number)
    try:
        fill(row)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        row.problem = _why(exc)
    return row


def _why(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"the field {exc.args[0]!r} is missing"
    if isinstance(exc, AttributeError | TypeError):
        return "the record is not an object of that export's shape"
    text = str(exc)
    if "isoformat" in text:
        return f"a time is not ISO 8601 ({text})"
    return text


BITLY = "the JSON of Bitly's GET /v4/groups/{guid}/bitlinks"


def _bitly(content: str) -> list[ImportRow]:
    records = _records(_json(content, BITLY), "links", BITLY)

    def reader(item: Any) -> Callable[[ImportRow], None]:
        def fill(row: ImportRow) -> None:
            row.short_url = _text(item.get("link")) or _text(item.get("id"))
            row.code = _last_segment(_text(item.get("id")) or row.short_url)
            row.url = _text(item["long_url"])
            row.title = _text(item.get("title"))
            row.tags = _tags(item.get("tags"))
            row.created_at = _time(item.get("created_at"))
            if row.short_url and "://" not in row.short_url:
                row.short_url = "https://" + row.short_url

        return fill

    return [_row(i, reader(item)) for i, item in enumerate(records, 1)]


DUB = "the CSV of Dub's Export links (Short link, Destination URL, …)"


def _dub(content: str) -> list[ImportRow]:
    rows = _csv(content, [("Short link", "link"), ("Destination URL", "url")], DUB)

    def pick(rec: dict[str, str], *names: str) -> str | None:
        for name in names:
            if rec.get(name):
                return rec[name]
        return None

    def reader(rec: dict[str, str]) -> Callable[[ImportRow], None]:
        def fill(row: ImportRow) -> None:
            row.short_url = pick(rec, "Short link", "link")
            row.code = _last_segment(row.short_url)
            row.url = pick(rec, "Destination URL", "url")
            row.title = pick(rec, "Title", "title")
            row.tags = _tags(pick(rec, "Tags", "tags"))
            row.created_at = _time(pick(rec, "Created at", "createdAt"))
            row.clicks = _count(pick(rec, "Clicks", "clicks"))
            if row.short_url and "://" not in row.short_url:
                row.short_url = "https://" + row.short_url

        return fill

    return [_row(i, reader(rec)) for i, rec in enumerate(rows, 1)]


SHORTIO = "the JSON of Short.io's GET /api/links"


def _shortio(content: str) -> list[ImportRow]:
    data = _json(content, SHORTIO)
    records = data if isinstance(data, list) else _records(data, "links", SHORTIO)

    def reader(item: Any) -> Callable[[ImportRow], None]:
        def fill(row: ImportRow) -> None:
            row.code = _text(item["path"])
            row.url = _text(item["originalURL"])
            row.title = _text(item.get("title"))
            row.tags = _tags(item.get("tags"))
            row.created_at = _time(item.get("createdAt"))
            row.clicks = _count(item.get("clicks"))
            row.short_url = _text(item.get("secureShortURL")) or _text(item.get("shortURL"))

        return fill

    return [_row(i, reader(item)) for i, item in enumerate(records, 1)]


REBRANDLY = "the JSON array of Rebrandly's GET /v1/links"


def _rebrandly(content: str) -> list[ImportRow]:
    data = _json(content, REBRANDLY)
    if not isinstance(data, list):
        raise InvalidInputError(
            f"content: expected a JSON array — give {REBRANDLY}", field="content"
        )

    def reader(item: Any) -> Callable[[ImportRow], None]:
        def fill(row: ImportRow) -> None:
            row.code = _text(item["slashtag"])
            row.url = _text(item["destination"])
            row.title = _text(item.get("title"))
            row.tags = _tags(item.get("tags"))
            row.created_at = _time(item.get("createdAt"))
            row.clicks = _count(item.get("clicks"))
            short = _text(item.get("shortUrl"))
            row.short_url = (
                None if short is None else (short if "://" in short else "https://" + short)
            )

        return fill

    return [_row(i, reader(item)) for i, item in enumerate(data, 1)]


SHLINK = "the Shlink web client's short_urls.csv"


def _shlink(content: str) -> list[ImportRow]:
    rows = _csv(content, [("shortCode",), ("longUrl",)], SHLINK)

    def reader(rec: dict[str, str]) -> Callable[[ImportRow], None]:
        def fill(row: ImportRow) -> None:
            row.code = rec.get("shortCode") or None
            row.url = rec.get("longUrl") or None
            row.title = rec.get("title") or None
            row.tags = _tags(rec.get("tags"), "|")
            row.created_at = _time(rec.get("createdAt"))
            row.clicks = _count(rec.get("visits"))
            row.short_url = rec.get("shortUrl") or None

        return fill

    return [_row(i, reader(rec)) for i, rec in enumerate(rows, 1)]


YOURLS = "the JSON of YOURLS' action=stats&filter=last&format=json"
_LINK_N = re.compile(r"^link_(\d+)$")


def _yourls(content: str) -> list[ImportRow]:
    data = _json(content, YOURLS)
    links = data.get("links") if isinstance(data, dict) else None
    if not isinstance(links, dict | list):
        raise InvalidInputError(
            f"content: expected an object with a 'links' object — give {YOURLS}", field="content"
        )
    entries = (
        list(links.items())
        if isinstance(links, dict)
        else [(f"link_{i}", item) for i, item in enumerate(links, 1)]
    )
    out = []
    for position, (key, item) in enumerate(entries, 1):
        match = _LINK_N.match(str(key))
        number = int(match.group(1)) if match else position

        def fill(row: ImportRow, item: Any = item) -> None:
            row.short_url = _text(item.get("shorturl"))
            row.code = _last_segment(row.short_url) or _text(item.get("keyword"))
            row.url = _text(item["url"])
            row.title = _text(item.get("title"))
            row.created_at = _time(item.get("timestamp"))
            row.clicks = _count(item.get("clicks"))

        out.append(_row(number, fill))
    return sorted(out, key=lambda r: r.number)


KUTT = "the JSON of Kutt's GET /api/v2/links"


def _kutt(content: str) -> list[ImportRow]:
    data = _json(content, KUTT)
    records = data if isinstance(data, list) else _records(data, "data", KUTT)

    def reader(item: Any) -> Callable[[ImportRow], None]:
        def fill(row: ImportRow) -> None:
            row.code = _text(item["address"])
            row.url = _text(item["target"])
            row.title = _text(item.get("description"))
            row.created_at = _time(item.get("created_at"))
            row.clicks = _count(item.get("visit_count"))
            row.short_url = _text(item.get("link"))

        return fill

    return [_row(i, reader(item)) for i, item in enumerate(records, 1)]


# --- making links ---------------------------------------------------------------------------


async def run(
    service: Any, principal: Principal, rows: list[ImportRow], progress: Progress
) -> ImportReport:
    """Make a link of each row; the report names every row that was not made, and why.

    A row whose code is already in the workspace (from this import run before, or any link)
    is skipped with that link: running the same import again creates nothing.
    """
    report = ImportReport(created=[], skipped=[], invalid=[])
    seen: set[str] = set()
    for done, row in enumerate(rows, 1):
        await _one(service, principal, row, report, seen)
        if done % PROGRESS_EVERY == 0 or done == len(rows):
            await progress(done, len(rows))
    return report


async def _one(
    service: Any, principal: Principal, row: ImportRow, report: ImportReport, seen: set[str]
) -> None:
    def invalid(reason: str) -> None:
        report.invalid.append(InvalidRow(row=row.number, code=row.code, reason=reason))

    if row.problem:
        return invalid(row.problem)
    if not row.code:
        return invalid("no short code in the record")
    if not row.url:
        return invalid("no destination URL in the record")
    if row.code.lower() in seen:
        return invalid(f"code '{row.code}' appears earlier in the same file")
    seen.add(row.code.lower())
    existing = await service.store.get_link(principal.workspace_id, code=row.code)
    if existing is not None:
        report.skipped.append(
            SkippedRow(
                row=row.number,
                code=row.code,
                reason="code taken",
                existing=ExistingLink(
                    code=existing.code,
                    url=existing.url,
                    short_url=f"{service.base_url}/{existing.code}",
                ),
            )
        )
        return None
    tags = list(dict.fromkeys(row.tags))
    if len(tags) > MAX_TAGS:
        return invalid(f"{len(tags)} tags: a link takes at most {MAX_TAGS}")
    try:
        data = LinkCreate(code=row.code, url=row.url, title=row.title, tags=tags or None)
        link = await service.create_link(
            principal, data, created_at=row.created_at, imported_clicks=row.clicks
        )
    except ValidationError as exc:
        return invalid(describe_validation_error(exc))
    except CodeTakenError:  # made by someone else meanwhile
        found = await service.store.get_link(principal.workspace_id, code=row.code)
        if found is None:
            return invalid(f"code '{row.code}' cannot be used here")
        existing_link = ExistingLink(code=found.code, url=found.url,
                                     short_url=f"{service.base_url}/{found.code}")  # fmt: skip
        report.skipped.append(
            SkippedRow(row=row.number, code=row.code, reason="code taken", existing=existing_link)
        )
        return None
    except ClyptError as exc:
        if exc.status >= 500 or exc.code in ("insufficient_scope", "unavailable"):
            raise
        return invalid(exc.message)
    report.created.append(CreatedRow(row=row.number, code=link.code, short_url=link.short_url))
    return None
