"""What a tool result may cost an assistant: empty fields left out, chosen fields only, tables
as text, long values cut in lists, and a byte ceiling on every result.

The rules (README.md and llms.txt say the same):

- link objects leave out `null`, `""`, `[]` and `{}` (`0` and `false` stay);
- list-like tools take `fields` (only those fields, in structured content and text alike) and
  `format` (`json`, or a `markdown`/`csv` table in one text block, paging in another block);
- in lists, a string longer than `LIST_CUT` characters is cut and ends with `CUT_MARK`
  (get_link gives the whole value);
- structured content and the text blocks each stay under `CEILING` bytes of JSON/UTF-8: long
  strings are cut first, then, when that is not enough (an import report of thousands of rows),
  the longest lists lose their tail and the object holding each says how many items it left
  out (`LEFT_OUT`);
- a `csv` table escapes cells a spreadsheet would run as formulas (OWASP's rule: a text cell
  starting with = + - @, tab or carriage return is led by a single quote).
"""

from __future__ import annotations

import csv
import io
import json
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from mcp.types import CallToolResult, ContentBlock, TextContent
from pydantic import BaseModel, Field, create_model

CEILING = 100_000  # bytes of JSON in structured content, and in the text blocks, each
LIST_CUT = 200  # characters kept of a long string in a list item
TEXT_CUT = 100  # characters kept of a long string in a text line or table cell
CUT_MARK = "…[cut]"
LEFT_OUT = "left_out"  # {list name: items left out} beside lists shortened for the ceiling
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Format = Literal["json", "markdown", "csv"]
FORMAT_DOC = (
    "json (default): structured results. markdown or csv: the items as one table in a text "
    "block (a header row of field names, then one row per item); paging in a separate block."
)
FIELDS_DOC = "Only these fields of each {item}, everywhere in the result (default: every field)."

M = TypeVar("M", bound=BaseModel)


# --- output schemas in which any field may be absent ----------------------------------------

_PARTIALS: dict[type[BaseModel], type[BaseModel]] = {}


def partial(model: type[M]) -> type[BaseModel]:
    """`model` (same name) with every field optional, nested models too: the output schema of
    results that leave out empty fields or keep only the fields asked for. Descriptions and
    types are kept."""
    made = _PARTIALS.get(model)
    if made is None:
        fields: dict[str, Any] = {
            name: (
                _loosen(info.annotation) | None,
                Field(default=None, description=info.description),
            )
            for name, info in model.model_fields.items()
        }
        made = create_model(model.__name__, __doc__=model.__doc__, **fields)
        _PARTIALS[model] = made
    return made


def _loosen(annotation: Any) -> Any:
    """`annotation` with each pydantic model in it replaced by its partial()."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return partial(annotation)
    args = get_args(annotation)
    origin = get_origin(annotation)
    if not args or origin is None:
        return annotation
    loose = tuple(_loosen(a) for a in args)
    if origin is list:
        return list[loose[0]]  # type: ignore[valid-type]
    if origin is dict:
        return dict[loose[0], loose[1]]  # type: ignore[valid-type]
    if origin in (Union, types.UnionType):
        return Union[loose]  # noqa: UP007
    return annotation


# --- values ---------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def drop_empty(value: Any) -> Any:
    """`value` without `null`, `""`, `[]` or `{}` in any object (0 and false stay)."""
    if isinstance(value, dict):
        out = {k: drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if not _empty(v)}
    if isinstance(value, list):
        return [drop_empty(v) for v in value]
    return value


def cut(value: Any, limit: int) -> Any:
    """`value` with every string longer than `limit` characters cut, ending in CUT_MARK."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + CUT_MARK
    if isinstance(value, dict):
        return {k: cut(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [cut(v, limit) for v in value]
    return value


def select(item: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """The `fields` of `item`, in the order asked for (all of them when `fields` is None)."""
    if fields is None:
        return dict(item)
    return {name: item[name] for name in dict.fromkeys(fields) if name in item}


def size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def shape_items(
    items: Iterable[Mapping[str, Any]],
    fields: Sequence[str] | None,
    *,
    drop: bool = True,
    limit: int = LIST_CUT,
) -> list[dict[str, Any]]:
    """List items as a list result carries them: chosen fields, empties left out, long
    strings cut."""
    out = []
    for item in items:
        data = drop_empty(dict(item)) if drop else dict(item)
        out.append(cut(select(data, fields), limit))
    return out


def fit_count(items: Sequence[Any], budget: int = CEILING, reserve: int = 2_000) -> int:
    """How many of `items` (from the first) fit in `budget` bytes of JSON, leaving `reserve`
    for the rest of the result; at least one."""
    total = reserve
    for n, item in enumerate(items):
        total += size(item) + 1
        if total > budget:
            return max(1, n)
    return len(items)


def bounded(data: Any, budget: int = CEILING) -> Any:
    """`data` itself when its JSON is within `budget` bytes, else with long strings cut shorter
    and shorter until it is (each cut ends in CUT_MARK)."""
    if size(data) <= budget:
        return data
    for limit in (2_000, 500, LIST_CUT):
        smaller = cut(data, limit)
        if size(smaller) <= budget:
            return smaller
    shorter = _shorten_lists(smaller, budget)
    for limit in (TEXT_CUT, 40):
        if size(shorter) <= budget:
            return shorter
        shorter = _shorten_lists(cut(shorter, limit), budget)
    if size(shorter) <= budget:
        return shorter
    raise ValueError("a result stays over the byte ceiling after cutting")  # pragma: no cover


def _lists(value: Any, out: list[tuple[dict[str, Any], str]]) -> None:
    """Every (object, key) whose value is a non-empty list, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, list) and item:
                out.append((value, key))
            _lists(item, out)
    elif isinstance(value, list):
        for item in value:
            _lists(item, out)


def _shorten_lists(data: Any, budget: int) -> Any:
    """`data` (a copy) with the biggest lists in objects halved from the end until it fits in
    `budget`; each object that lost items says how many under LEFT_OUT."""
    if isinstance(data, list):  # a bare list (text lines): shortened without a note
        return _shorten_lists({"items": data}, budget)["items"]
    data = json.loads(json.dumps(data))  # a copy this function may change
    for _ in range(200):  # each round halves one list: far more rounds than any result needs
        if size(data) <= budget:
            break
        found: list[tuple[dict[str, Any], str]] = []
        _lists(data, found)
        if not found:
            break
        holder, key = max(found, key=lambda hk: size(hk[0][hk[1]]))
        items = holder[key]
        keep = len(items) // 2
        noted = holder.get(LEFT_OUT)
        left: dict[str, int] = noted if isinstance(noted, dict) else {}
        holder[LEFT_OUT] = {**left, key: left.get(key, 0) + len(items) - keep}
        holder[key] = items[:keep]
    return data


# --- text -----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        if all(isinstance(v, str | int | float) for v in value):
            return ", ".join(str(v) for v in value)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _md_cell(value: Any) -> str:
    text = _cell(value).replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.split())  # a row stays on one line


def _csv_cell(value: Any) -> str:
    text = _cell(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def table(items: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: Format) -> str:
    """`items` as one markdown or CSV table: a header row of `columns`, then a row per item
    (CSV cells a spreadsheet would run as formulas led by a single quote)."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for item in items:
            writer.writerow([_csv_cell(item.get(c)) for c in columns])
        return buf.getvalue().rstrip("\n")
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(_md_cell(item.get(c)) for c in columns) + " |" for item in items]
    return "\n".join(lines)


def json_lines(items: Sequence[Mapping[str, Any]]) -> str:
    """One compact JSON object per line."""
    return "\n".join(json.dumps(i, ensure_ascii=False, separators=(",", ":")) for i in items)


def compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def list_result(
    structured: dict[str, Any],
    text_items: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    header: str,
    fmt: Format,
) -> CallToolResult:
    """A list result: `structured` as structured content; in text, `header` (counts, paging)
    and the items (JSON lines, or one markdown/CSV table block)."""
    if fmt == "json":
        body = json_lines(text_items)
        blocks = [header + ("\n" + body if body else "")]
    else:
        blocks = [table(text_items, columns, fmt), header]
    return CallToolResult(
        content=[TextContent(type="text", text=t) for t in blocks],
        structured_content=structured,
    )


def object_result(data: dict[str, Any], summary: str) -> CallToolResult:
    """One object: a summary line, then its compact JSON for text-only clients; each part
    within the ceiling."""
    data = bounded(data)
    content: list[ContentBlock] = [
        TextContent(type="text", text=summary),
        TextContent(type="text", text=compact(data)),
    ]
    return CallToolResult(content=content, structured_content=data)
