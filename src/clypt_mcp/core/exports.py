"""Moving data in and out, the use cases behind `clypt-mcp links import|export` and
`clicks export`: links to and from CSV/JSON, raw clicks to CSV/JSON Lines."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import InvalidInputError
from clypt_mcp.models import (
    LINK_INPUTS,
    MAX_BULK,
    Link,
    LinkQuery,
    Principal,
    Scope,
    link_csv_columns,
)

Progress = Callable[[int, int], None]
CLICK_COLUMNS = ["time", "code", "variant", "country", "city", "device", "browser", "os",
                 "referrer", "visitor", "bot", "traffic"]  # fmt: skip
# The links CSV: the exported inputs (models.LINK_INPUTS) and a few fields of the link's own.
LINK_COLUMNS = link_csv_columns("id", "short_url", "status", "clicks", "created_at")
IMPORT_COLUMNS = {name for name, spec in LINK_INPUTS.items() if spec.export}
PAGE = 1000


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """OWASP's CSV-injection rule: a text cell that a spreadsheet would read as a formula
    (starting with = + - @, tab or carriage return) gets a leading single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_row(values: list[Any]) -> list[Any]:
    return [csv_cell(v) for v in values]


def _uncell(value: str) -> str:
    """Undo `csv_cell` when reading back a CSV this project wrote."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def _nothing(done: int, total: int) -> None:
    return None


async def export_clicks(
    service: ClyptService,
    principal: Principal,
    out: TextIO,
    fmt: str = "csv",
    link: str | None = None,
    since: datetime | None = None,
    progress: Progress = _nothing,
) -> int:
    """Write raw clicks (oldest first) as CSV or JSON Lines; returns how many."""
    service.require(principal, Scope.ANALYTICS_READ)
    link_id = (await service.get_link(principal, link)).id if link else None
    since_ts = int(since.timestamp()) if since else None
    total = await service.count_raw_clicks(principal, link_id, since_ts)
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(CLICK_COLUMNS)
    written, after = 0, 0
    while True:
        rows = await service.raw_clicks(principal, link_id, since_ts, after, PAGE)
        if not rows:
            break
        for row in rows:
            record = _click_record(row)
            if writer:
                writer.writerow(csv_row([record[c] for c in CLICK_COLUMNS]))
            else:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        written += len(rows)
        after = rows[-1]["id"]
        progress(written, total)
    return written


def _click_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": datetime.fromtimestamp(row["ts"], UTC).isoformat().replace("+00:00", "Z"),
        "code": row["code"],
        "variant": row["variant"],
        "country": row["country"],
        "city": row.get("city"),
        "device": row["device"],
        "browser": row["browser"],
        "os": row["os"],
        "referrer": row["referrer"],
        "visitor": row["visitor"],
        "bot": bool(row["bot"]),
        "traffic": row.get("traffic") or ("crawler" if row["bot"] else "human"),
    }


async def all_links(service: ClyptService, principal: Principal) -> tuple[list[Link], int]:
    """Every link of the workspace, deleted ones included, oldest first."""
    links: list[Link] = []
    cursor = None
    total = 0
    while True:
        page = await service.list_links(
            principal, LinkQuery(status="all", sort="created_at", limit=100, cursor=cursor)
        )
        links.extend(page.links)
        total = page.total
        cursor = page.next_cursor
        if cursor is None:
            return links, total


async def export_links(
    service: ClyptService,
    principal: Principal,
    out: TextIO,
    fmt: str = "csv",
    progress: Progress = _nothing,
) -> int:
    """Write every link as CSV (one row each) or a JSON array; returns how many."""
    links, total = await all_links(service, principal)
    if fmt == "json":
        json.dump([link.model_dump(mode="json") for link in links], out, ensure_ascii=False)
        out.write("\n")
        progress(len(links), total)
        return len(links)
    writer = csv.writer(out)
    writer.writerow(LINK_COLUMNS)
    for i, link in enumerate(links, 1):
        data = link.model_dump(mode="json")
        data["tags"] = ",".join(link.tags)
        writer.writerow(csv_row(["" if data[c] is None else data[c] for c in LINK_COLUMNS]))
        if i % 100 == 0 or i == len(links):
            progress(i, total)
    return len(links)


def read_link_rows(text: Iterator[str]) -> list[dict[str, Any]]:
    """Rows of a links CSV (header: url and any of IMPORT_COLUMNS, the exported fields of
    models.LINK_INPUTS; tags comma-separated) as create_link arguments.

    Raises:
        InvalidInputError: when the header lacks `url` or names an unknown column.
    """
    reader = csv.DictReader(text)
    header = set(reader.fieldnames or [])
    if "url" not in header:
        raise InvalidInputError("the CSV needs a header row with a 'url' column")
    unknown = header - IMPORT_COLUMNS
    if unknown:
        raise InvalidInputError(
            f"unknown CSV columns: {', '.join(sorted(unknown))} — use "
            f"{', '.join(sorted(IMPORT_COLUMNS))}"
        )
    rows = []
    for row in reader:
        item: dict[str, Any] = {
            k: _uncell(v.strip()) for k, v in row.items() if k and v and v.strip()
        }
        if "tags" in item:
            item["tags"] = [t.strip() for t in item["tags"].split(",") if t.strip()]
        rows.append(item)
    return rows


async def import_links(
    service: ClyptService,
    principal: Principal,
    rows: list[dict[str, Any]],
    progress: Progress = _nothing,
) -> tuple[int, list[tuple[int, str]]]:
    """Create links from rows in batches of 100; returns (created, [(row number, error)])
    where row 2 is the first data row of the file."""
    created = 0
    errors: list[tuple[int, str]] = []
    for start in range(0, len(rows), MAX_BULK):
        chunk = rows[start : start + MAX_BULK]
        result = await service.bulk_create_links(principal, chunk)
        created += len(result.created)
        errors.extend((start + e.index + 2, e.error) for e in result.errors)
        progress(min(start + MAX_BULK, len(rows)), len(rows))
    return created, errors
