"""Checks llms.txt and llms-full.txt against the served OpenAPI document and MCP tools/list.

The guides are prose for agents, with a few regular shapes this module reads:

- endpoint tables: a row whose first cell lists methods (`GET, POST`) and whose second cell
  names paths in backticks; every method applies to every path, and backticked names in
  parentheses are query parameters of those operations;
- tool tables: a row whose first cell is a backticked tool name; backticked names outside
  parentheses in the second cell are its arguments, in the third its result fields;
- reference sections (llms-full.txt): `### \\`GET /links\\`` with `Query:`, `Body:` and
  `Answer:` paragraphs, `### \\`Link\\`` with `Fields:`, `### \\`create_link\\`` with
  `Arguments:` and `Result:`; these must name exactly what the server has;
- the error table: `| 404 | \\`not_found\\` | … |`;
- anywhere: a backticked `METHOD /path`, a backticked `/api/v1/...` path, and any backticked
  camelCase or snake_case word must be something the API or the tools have.

`problems(...)` returns one line per mismatch (empty when the guides are exact).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic.alias_generators import to_snake

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
PREFIX = "/api/v1"
LABELS = ("Fields", "Query", "Body", "Answer", "Arguments", "Result")
FIELD_WORD = re.compile(r"^(?:[a-z][a-z0-9]*(?:_[a-z0-9]+)+|[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+)$")
OPERATION = re.compile(r"^(" + "|".join(METHODS) + r") (/\S*)$")
HEADING = re.compile(r"^(#{1,6}) (.*)$")
# Codes an endpoint can answer besides ClyptError's (which carry their own status).
EXTRA_CODES = {"method_not_allowed": 405}
# Redirect pages only (HTML), never a REST answer.
NOT_REST_CODES = {"link_unavailable"}
# MCP protocol words the guides use, which are neither REST nor tool names.
PROTOCOL_WORDS = {"isError", "structuredContent"}


@dataclass
class Facts:
    """What the server really has, gathered from the OpenAPI document and tools/list."""

    openapi: dict[str, Any]
    tools: dict[str, dict[str, Any]]  # name -> {"input": schema, "output": schema | None}
    error_codes: dict[str, int]  # code -> HTTP status
    prompts: dict[str, list[str]] = field(default_factory=dict)  # name -> argument names
    schemas: dict[str, Any] = field(init=False)
    known_words: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.schemas = self.openapi["components"]["schemas"]
        words: set[str] = set(self.tools) | set(self.prompts)
        words |= {arg for args in self.prompts.values() for arg in args}
        for schema in self.schemas.values():
            words |= _property_names(schema, self.schemas)
        for ops in self.openapi["paths"].values():
            for op in ops.values():
                words |= {p["name"] for p in op.get("parameters", [])}
        for tool in self.tools.values():
            for schema in (tool["input"], tool["output"]):
                if schema is not None:
                    words |= _property_names(schema, schema.get("$defs", {}))
        words |= set(self.error_codes) | set(EXTRA_CODES)
        words |= _enum_values(self.openapi) | _enum_values(
            [t["input"] for t in self.tools.values()]
        )
        self.known_words = words

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        op: dict[str, Any] | None = self.openapi["paths"].get(path, {}).get(method.lower())
        return op

    def template(self, concrete: str) -> str | None:
        """The documented path a concrete one matches (a folder's `{id}` may hold slashes)."""
        for segment in ("[^/]+", ".+"):
            for template in self.openapi["paths"]:
                pattern = re.sub(r"\\\{[^/]+?\\\}", segment, re.escape(template))
                if re.fullmatch(pattern, concrete):
                    return str(template)
        return None


def _enum_values(schema: Any) -> set[str]:
    """Every string of every `enum` in `schema` (sort orders, statuses, actions, …)."""
    if isinstance(schema, list):
        return set().union(*(_enum_values(item) for item in schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    found = {v for v in schema.get("enum", []) if isinstance(v, str)}
    for value in schema.values():
        found |= _enum_values(value)
    return found


def _property_names(schema: Any, defs: dict[str, Any], seen: set[int] | None = None) -> set[str]:
    """Every property name in `schema`, nested ones included."""
    seen = seen if seen is not None else set()
    if not isinstance(schema, dict) or id(schema) in seen:
        return set()
    seen.add(id(schema))
    names = set(schema.get("properties", {}))
    ref = schema.get("$ref")
    if isinstance(ref, str):
        names |= _property_names(defs.get(ref.rsplit("/", 1)[-1]), defs, seen)
    for value in schema.values():
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, dict):
                names |= _property_names(child, defs, seen)
    for child in schema.get("properties", {}).values():
        names |= _property_names(child, defs, seen)
    return names


# ---------------------------------------------------------------- reading the text


def strip_fences(text: str) -> str:
    """The text without its fenced code blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def backticked(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def outside_parentheses(text: str) -> str:
    """`text` with every parenthesised part (nested ones too) removed."""
    out, depth = [], 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def inside_parentheses(text: str) -> str:
    out, depth = [], 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth:
            out.append(ch)
    return " ".join(out)


def name_of(token: str) -> str:
    """`utm_source?` -> `utm_source`; `permanent=true` -> `permanent`."""
    return token.split("=", 1)[0].rstrip("?").strip()


def table_rows(text: str) -> Iterator[list[str]]:
    for line in strip_fences(text).splitlines():
        line = line.strip()
        if line.startswith("|") and not re.fullmatch(r"[|\-\s:]+", line):
            cells = re.split(r"(?<!\\)\|", line.strip("|"))
            yield [c.strip() for c in cells]


@dataclass
class Section:
    title: str
    lines: list[str]

    def paragraph(self, label: str) -> str | None:
        """The text of the paragraph starting `Label:`, up to a blank line or another label."""
        found: list[str] | None = None
        for line in self.lines:
            starts = re.match(r"^(" + "|".join(LABELS) + r"):", line)
            if found is not None and (not line.strip() or starts):
                break
            if found is None and starts and starts.group(1) == label:
                found = [line[len(label) + 1 :]]
            elif found is not None:
                found.append(line)
        return None if found is None else first_sentence(" ".join(found))


def first_sentence(text: str) -> str:
    """`text` up to its first full stop outside parentheses and backticks."""
    depth, quoted = 0, False
    for i, ch in enumerate(text):
        if ch == "`":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")" and depth:
            depth -= 1
        elif not quoted and not depth and ch == "." and (i + 1 == len(text) or text[i + 1] == " "):
            return text[:i]
    return text


def sections(text: str, level: int = 3) -> list[Section]:
    out: list[Section] = []
    current: Section | None = None
    for line in strip_fences(text).splitlines():
        heading = HEADING.match(line)
        if heading:
            current = None
            if len(heading.group(1)) == level:
                current = Section(heading.group(2).strip(), [])
                out.append(current)
            continue
        if current is not None:
            current.lines.append(line)
    return out


def names_in(paragraph: str) -> list[str]:
    """The backticked names outside parentheses (values and notes go in parentheses)."""
    names = (name_of(t) for t in backticked(outside_parentheses(paragraph)))
    return [n for n in names if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n)]


# ---------------------------------------------------------------- the checks


def problems(facts: Facts, text: str, *, full: bool) -> list[str]:
    """Every place `text` does not match the server. `full`: llms-full.txt, which must also
    name every endpoint, object, field, parameter, tool, argument and error code."""
    found = [
        *_check_tables(facts, text),
        *_check_operations_named(facts, text),
        *_check_words(facts, text),
        *_check_error_table(facts, text, full=full),
    ]
    if full:
        found += _check_reference(facts, text)
    return found


def _check_tables(facts: Facts, text: str) -> Iterator[str]:
    for cells in table_rows(text):
        if len(cells) < 2:
            continue
        methods = [m.strip() for m in cells[0].split(",")]
        if methods and all(m in METHODS for m in methods):
            yield from _check_endpoint_row(facts, methods, cells[1])
            continue
        tool = backticked(cells[0])
        if len(tool) == 1 and re.fullmatch(r"`[a-z_]+`", cells[0]):
            yield from _check_tool_row(facts, tool[0], cells[1:])


def _check_endpoint_row(facts: Facts, methods: list[str], cell: str) -> Iterator[str]:
    paths = [t for t in backticked(outside_parentheses(cell)) if t.startswith("/")]
    if not paths:
        yield f"endpoint row names no path: {cell!r}"
    operations = []
    for path in paths:
        for method in methods:
            op = facts.operation(method, path)
            if op is None:
                yield f"table row: {method} {path} is not in the OpenAPI document"
            else:
                operations.append(op)
    offered = {p["name"] for op in operations for p in op.get("parameters", [])}
    for token in backticked(inside_parentheses(cell)):
        name = name_of(token)
        if name.startswith("/") or not re.fullmatch(r"[A-Za-z_]+", name):
            continue
        if name not in offered:
            yield f"table row {', '.join(methods)} {', '.join(paths)}: no parameter {name!r}"


def _check_tool_row(facts: Facts, tool: str, cells: list[str]) -> Iterator[str]:
    if tool not in facts.tools:
        yield f"tool table: no tool {tool!r} in tools/list"
        return
    schema = facts.tools[tool]
    arguments = set(schema["input"].get("properties", {}))
    for name in names_in(cells[0]):
        if name not in arguments and name not in facts.tools:
            yield f"tool table: {tool} has no argument {name!r}"
    output = schema["output"]
    if len(cells) > 1 and output is not None:
        results = set(output.get("properties", {}))
        for name in names_in(cells[1]):
            if name not in results:
                yield f"tool table: {tool}'s result has no field {name!r}"


def _check_operations_named(facts: Facts, text: str) -> Iterator[str]:
    for token in backticked(strip_fences(text)):
        match = OPERATION.match(token)
        if match:
            method, path = match.groups()
            path = path.split("?", 1)[0].removeprefix(PREFIX) or "/"
            template = facts.template(path)
            if template is None or facts.operation(method, template) is None:
                yield f"{token!r} is not in the OpenAPI document"
        elif token.startswith(PREFIX):
            path = token.split("?", 1)[0].removeprefix(PREFIX) or "/"
            if facts.template(path) is None:
                yield f"{token!r}: no such path in the OpenAPI document"


def _check_words(facts: Facts, text: str) -> Iterator[str]:
    for token in backticked(strip_fences(text)):
        name = name_of(token)
        if FIELD_WORD.fullmatch(name) and name not in facts.known_words | PROTOCOL_WORDS:
            yield f"{name!r} is neither a REST field or parameter nor a tool or its argument"


def _check_error_table(facts: Facts, text: str, *, full: bool) -> Iterator[str]:
    listed: dict[str, int] = {}
    for cells in table_rows(text):
        if len(cells) >= 2 and re.fullmatch(r"\d{3}", cells[0]):
            for code in backticked(cells[1]):
                listed[code] = int(cells[0])
    known = {**facts.error_codes, **EXTRA_CODES}
    for code, status in listed.items():
        if code not in known:
            yield f"error table: no error code {code!r}"
        elif known[code] != status:
            yield f"error table: {code} answers {known[code]}, not {status}"
    if full:
        for code in sorted(set(known) - set(listed) - NOT_REST_CODES):
            yield f"error table: code {code!r} ({known[code]}) is missing"


def _check_reference(facts: Facts, text: str) -> Iterator[str]:
    described: set[str] = set()
    for section in sections(text):
        titles = backticked(section.title)
        if len(titles) != 1:
            continue
        title = titles[0]
        described.add(title)
        if OPERATION.match(title):
            yield from _check_endpoint_section(facts, section, title)
        elif title in facts.schemas:
            yield from _check_schema_section(facts, section, title)
        elif title in facts.tools:
            yield from _check_tool_section(facts, section, title)
        else:
            yield f"section {title!r}: no such endpoint, object or tool"
    for path, ops in facts.openapi["paths"].items():
        for method in ops:
            if f"{method.upper()} {path}" not in described:
                yield f"llms-full.txt does not describe {method.upper()} {path}"
    for name, schema in facts.schemas.items():
        if "properties" in schema and name not in described:
            yield f"llms-full.txt does not describe the object {name}"
    for tool in facts.tools:
        if tool not in described:
            yield f"llms-full.txt does not describe the tool {tool}"


def _exact(what: str, named: Iterable[str], real: Iterable[str]) -> Iterator[str]:
    named_set, real_set = set(named), set(real)
    for extra in sorted(named_set - real_set):
        yield f"{what}: names {extra!r}, which does not exist"
    for missing in sorted(real_set - named_set):
        yield f"{what}: does not name {missing!r}"


def _check_endpoint_section(facts: Facts, section: Section, title: str) -> Iterator[str]:
    method, path = title.split(" ", 1)
    op = facts.operation(method, path)
    if op is None:
        yield f"section {title}: not in the OpenAPI document"
        return
    query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
    paragraph = section.paragraph("Query")
    if query or paragraph is not None:
        yield from _exact(f"{title} Query", names_in(paragraph or ""), query)
    body_ref = (
        op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    ).get("$ref", "")
    body = section.paragraph("Body")
    if body_ref or body is not None:
        yield from _exact(f"{title} Body", names_in(body or ""), [body_ref.rsplit("/", 1)[-1]])
    answer = section.paragraph("Answer")
    if answer is None:
        yield f"{title}: no Answer paragraph"
        return
    success = {s: r for s, r in op["responses"].items() if s.startswith("2")}
    tokens = backticked(answer)
    yield from _exact(f"{title} Answer statuses", [t for t in tokens if t.isdigit()], success)
    refs = {
        r.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
        for r in success.values()
    }
    models = {ref.rsplit("/", 1)[-1] for ref in refs if ref}
    named_models = [t for t in tokens if t in facts.schemas]
    yield from _exact(f"{title} Answer", named_models, models)


def _check_schema_section(facts: Facts, section: Section, title: str) -> Iterator[str]:
    real = facts.schemas[title].get("properties", {})
    paragraph = section.paragraph("Fields")
    if paragraph is None:
        yield f"object {title}: no Fields paragraph"
        return
    yield from _exact(f"object {title} Fields", names_in(paragraph), real)


def _check_tool_section(facts: Facts, section: Section, title: str) -> Iterator[str]:
    schema = facts.tools[title]
    arguments = section.paragraph("Arguments")
    yield from _exact(
        f"tool {title} Arguments", names_in(arguments or ""), schema["input"].get("properties", {})
    )
    output = schema["output"]
    result = section.paragraph("Result")
    if output is None:
        return
    if result is None:
        yield f"tool {title}: no Result paragraph"
        return
    named = names_in(result)
    models = [n for n in named if n in facts.schemas]
    if models:  # "Result: `Link` in snake_case"
        fields = {to_snake(p) for m in models for p in facts.schemas[m].get("properties", {})}
        yield from _exact(f"tool {title} Result", fields, output.get("properties", {}))
    else:
        yield from _exact(f"tool {title} Result", named, output.get("properties", {}))
