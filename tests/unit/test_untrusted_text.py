"""Untrusted text stays inert: referrer hosts are host names or `invalid`, and every CSV the
project writes escapes cells a spreadsheet would run as formulas (OWASP's rule)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clypt_mcp.core.exports import csv_row, export_clicks, export_links, read_link_rows
from clypt_mcp.core.service import ClyptService
from clypt_mcp.core.visitors import referrer_host
from clypt_mcp.models import ClickEvent, LinkCreate, Principal
from clypt_mcp.store.sqlite import SqliteStore
from tests.conftest import BASE_URL

P = Principal(workspace_id="default")
FORMULAS = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize(
    ("referer", "host"),
    [
        ("https://=cmd|x <script>.example/", "invalid"),
        ('https://a"b.example/', "invalid"),
        ("https://ex ample.com/", "invalid"),
        ("https://" + "a" * 64 + ".com/", "invalid"),
        ("https://News.Example.org:8443/path?q=1", "news.example.org"),
        ("https://bücher.de/", "xn--bcher-kva.de"),
        ("http://192.0.2.1/", "192.0.2.1"),
        (None, None),
    ],
)
def test_referrer_hosts_are_host_names_or_invalid(referer: str | None, host: str | None) -> None:
    assert referrer_host(referer) == host


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


@pytest.mark.anyio
async def test_csv_exports_escape_formula_cells_and_import_reads_them_back(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "clypt.db")
    await store.open()
    try:
        service = ClyptService(store, base_url=BASE_URL)
        evil = ['=HYPERLINK("http://x")', "+1+2", "-3", "@SUM(A1)"]
        link = await service.create_link(
            P,
            LinkCreate(url="https://example.com/", title=evil[0], notes=evil[1], tags=["=x"]),
        )
        await store.record_clicks(
            [
                ClickEvent(
                    link_id=link.id,
                    workspace_id="default",
                    at=datetime.now(UTC),
                    referrer="=cmd",  # as an older version stored it
                    browser="@evil",
                )
            ]
        )
        for write in (export_links, export_clicks):
            out = io.StringIO()
            await write(service, P, out=out)
            cells = _cells(out.getvalue())
            assert cells, write
            assert not [c for c in cells if c.startswith(FORMULAS)], cells
        # a CSV written by the same rule reads back as the text it held
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["url", "title", "notes"])
        writer.writerow(csv_row(["https://example.com/", evil[0], evil[3]]))
        rows = read_link_rows(iter(out.getvalue().splitlines(keepends=True)))
        assert rows[0]["title"] == evil[0] and rows[0]["notes"] == evil[3]
    finally:
        await store.close()
