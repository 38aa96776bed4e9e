"""Reading the dashboard's urlencoded forms, bounded in size and field count."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, Request

from clypt_mcp.errors import BadRequestError

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 256  # the link form: up to 10 variant rows and 50 country rules


class Form:
    """A submitted form: the first value of each field, or every value of a repeated one."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields

    def get(self, name: str) -> str:
        values = self.fields.get(name)
        return values[0].strip() if values else ""

    def all(self, name: str) -> list[str]:
        return [v.strip() for v in self.fields.get(name, [])]

    def has(self, name: str) -> bool:
        return name in self.fields


async def read_form(request: Request) -> Form:
    """The body of an `application/x-www-form-urlencoded` post.

    Raises:
        BadRequestError: for a body that is too big, not UTF-8 or not urlencoded.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadRequestError("the form must be sent as application/x-www-form-urlencoded")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_FORM_BYTES:
                raise BadRequestError(f"the form is larger than {MAX_FORM_BYTES // 1024} KB")
    except ClientDisconnect:
        raise BadRequestError("the form was not received whole") from None
    try:
        fields = parse_qs(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            strict_parsing=False,
        )
    except (UnicodeDecodeError, ValueError):
        raise BadRequestError("the form could not be read (not UTF-8 urlencoded)") from None
    return Form(fields)
