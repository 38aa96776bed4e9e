"""How rows look in either database, and what both stores raise: the column encodings, the
conflict errors, the numbered migration scripts. Dialect-neutral; SqliteStore and PostgresStore
both build on it."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from importlib import resources
from typing import Any

from clypt_mcp.errors import CodeTakenError, ConflictError, TagTakenError
from clypt_mcp.store.base import LINK_COLUMNS, LINK_FIELDS, LinkRecord, from_us, to_us

JSON_COLUMNS = tuple(name for name, (kind, _) in LINK_FIELDS.items() if kind == "json")
TIME_COLUMNS = tuple(name for name, (kind, _) in LINK_FIELDS.items() if kind == "time")
FLAG_COLUMNS = tuple(name for name, (kind, _) in LINK_FIELDS.items() if kind == "flag")
LINK_SELECT = ", ".join(f"l.{name}" for name in LINK_FIELDS)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str) -> str:
    """A fresh id for a row the store makes itself (a tag or folder named in passing), in the
    core's format: a type prefix and 16 random base62 characters."""
    return f"{prefix}_{''.join(secrets.choice(_BASE62) for _ in range(16))}"


def migrations(dialect: str) -> list[tuple[int, str]]:
    """The numbered migration scripts of a dialect, in order."""
    folder = resources.files("clypt_mcp.store").joinpath("sql", dialect)
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            out.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(out)


def from_us_req(value: int) -> datetime:
    out = from_us(value)
    assert out is not None
    return out


def code_taken(code: str) -> CodeTakenError:
    return CodeTakenError(f"code '{code}' is taken — pick another or omit code", field="code")


def tag_taken(name: str) -> TagTakenError:
    return TagTakenError(f"tag '{name}' already exists — pick another name", field="name")


def folder_taken(name: str) -> ConflictError:
    return ConflictError(
        f"a folder named '{name}' already exists there — pick another name", field="name"
    )


def encode_values(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in TIME_COLUMNS:
            out[key] = to_us(value)
        elif key in JSON_COLUMNS:
            out[key] = None if value is None else json.dumps(value, separators=(",", ":"))
        elif key in FLAG_COLUMNS:
            out[key] = int(bool(value))
        else:
            out[key] = value
    return out


def link_row(record: LinkRecord) -> dict[str, Any]:
    values = {name: getattr(record, name) for name in LINK_COLUMNS}
    values.update(
        id=record.id,
        workspace_id=record.workspace_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )
    return encode_values(values)


def decode_link(
    row: tuple[Any, ...], tags: dict[str, list[str]], paths: dict[str, str]
) -> LinkRecord:
    """A link row (its columns in LINK_FIELDS order, as stored) back into a LinkRecord, with its
    tag names (`tags` by link id) and folder path (`paths` by folder id)."""
    data = dict(zip(LINK_FIELDS, row, strict=True))
    for key in JSON_COLUMNS:
        data[key] = json.loads(data[key]) if data[key] else None
    for key in TIME_COLUMNS:
        data[key] = from_us(data[key])
    for key in FLAG_COLUMNS:
        data[key] = bool(data[key])
    data["tags"] = tags.get(data["id"], [])
    data["folder_path"] = paths.get(data["folder_id"]) if data["folder_id"] else None
    return LinkRecord(**data)
