"""The one error hierarchy every surface maps from (no HTTP or MCP imports here)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import ValidationError


# Words a hint may name with `{term}`: an action to take or a field to send. Each surface has
# its own words for them (tools.common.TOOL_WORDS, http.error_map.REST_WORDS); these defaults
# are the neutral ones, used where no surface words the hint (logs, the CLI, bulk results).
TERMS: Mapping[str, str] = {
    "list_links": "list_links",
    "list_tags": "list_tags",
    "list_folders": "list_folders",
    "next_cursor": "next_cursor",
    "idempotency_key": "idempotency_key",
}


@dataclass(frozen=True)
class Hint:
    """What went wrong, structured: the field at fault, the rule it breaks, the next step.

    `rule` and `step` may name terms as `{list_links}`, `{next_cursor}`… (see TERMS), which
    each surface words once in its own vocabulary; `field` may be a term too.
    """

    field: str | None
    rule: str
    step: str | None = None

    def worded(self, words: Mapping[str, str] = TERMS) -> str:
        """`field: rule — step`, with every term in `words`."""
        vocabulary = {**TERMS, **words}

        def say(text: str) -> str:  # only known terms: a value quoted in a rule stays as is
            return _TERM_RE.sub(lambda m: vocabulary.get(m[1], m[0]), text)

        text = say(self.rule)
        if self.field:
            text = f"{vocabulary.get(self.field, self.field)}: {text}"
        if self.step:
            text += " — " + say(self.step)
        return text


_TERM_RE = re.compile(r"\{([a-z_]+)\}")


class ClyptError(Exception):
    """Base class; an unexpected failure. Each subclass has a stable machine code.

    Made from a plain message, or from a Hint that each surface words (`worded`).
    """

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    registry: ClassVar[dict[str, type[ClyptError]]] = {}

    def __init__(self, message: str | Hint, **details: Any) -> None:
        self.hint = message if isinstance(message, Hint) else None
        text = message.worded() if isinstance(message, Hint) else message
        super().__init__(text)
        self.message = text
        if self.hint is not None and self.hint.field and "field" not in details:
            details["field"] = self.hint.field
        self.details = details

    def worded(self, words: Mapping[str, str]) -> str:
        """The message in a surface's words (a plain message is the same everywhere)."""
        return self.hint.worded(words) if self.hint is not None else self.message

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            ClyptError.registry[cls.code] = cls

    @classmethod
    def from_code(cls, code: str, message: str, **details: Any) -> ClyptError:
        """Rebuild the error class registered under `code` (the base class when unknown)."""
        return cls.registry.get(code, ClyptError)(message, **details)

    def __str__(self) -> str:
        return self.message


ClyptError.registry["internal_error"] = ClyptError


class BadRequestError(ClyptError):
    """Malformed request: bad JSON, an unknown field."""

    code = "bad_request"
    status = 400


class InvalidInputError(ClyptError):
    """A value breaks a rule (URL, code, limits, dates)."""

    code = "invalid_input"
    status = 422


class AuthenticationError(ClyptError):
    """Missing, unknown, expired or revoked API key."""

    code = "unauthenticated"
    status = 401


class KeyRevokedError(AuthenticationError):
    """The API key was revoked."""

    code = "key_revoked"


class KeyExpiredError(AuthenticationError):
    """The API key is past its expiry."""

    code = "key_expired"


class InsufficientScopeError(ClyptError):
    """The caller's key lacks the scope an action needs."""

    code = "insufficient_scope"
    status = 403


class IpNotAllowedError(ClyptError):
    """The key has an IP allow-list and the client address is not on it."""

    code = "ip_not_allowed"
    status = 403


class QuotaExceededError(ClyptError):
    """A workspace limit set by the operator is reached; the message names the limit and use."""

    code = "quota_exceeded"
    status = 403


class NotFoundError(ClyptError):
    """Absent, or in another workspace (never told apart)."""

    code = "not_found"
    status = 404


class ConflictError(ClyptError):
    """A uniqueness rule or a state rule was broken."""

    code = "conflict"
    status = 409


class CodeTakenError(ConflictError):
    """The short code is already in use."""

    code = "code_taken"


class TagTakenError(ConflictError):
    """A tag with that name exists."""

    code = "tag_taken"


class DomainNotVerifiedError(ConflictError):
    """A domain's TXT record was not found: nothing changed. `txt_name` and `txt_value` (in
    `details`, and in the REST body) say what to publish."""

    code = "domain_not_verified"
    status = 409


class LinkUnavailableError(ClyptError):
    """The link exists but does not redirect now; `reason` says why."""

    code = "link_unavailable"
    status = 410


class PayloadTooLargeError(ClyptError):
    """The request body is over the limit."""

    code = "payload_too_large"
    status = 413


class RateLimitedError(ClyptError):
    """Too many requests for this key in the current window."""

    code = "rate_limited"
    status = 429


class UnavailableError(ClyptError):
    """The store is unreachable or busy after retries; a remote server is down."""

    code = "unavailable"
    status = 503


class StoreUnavailableError(UnavailableError):
    """The database cannot be reached or written now (`serve` knows it is away): nothing was
    done; retry after `retry_after` seconds. Redirects of recent links keep working."""

    code = "store_unavailable"


class BusyError(UnavailableError):
    """This server has too much of one kind of work queued (password hashing): retry after
    `retry_after` seconds; nothing was done."""

    code = "busy"


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One readable line per broken rule, naming the field: `tags: at most 10 items`."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "is not a known field — remove it (check the spelling)"
        elif err["type"] == "missing":
            msg = "is required"
        # a rule over several fields (dates in order) names them in its message
        parts.append(f"{prefix}{loc}: {msg}" if loc else f"{prefix}{msg}")
    return "; ".join(parts)


# Messages give hints in the words of MCP tools. The REST API answers with the endpoint
# instead, and the remote backend turns them back, so an assistant reads the same hint
# whether its server is embedded or remote.
_REST_WORDS = (
    (
        "see them with manage_domains(action='list'), or add it with manage_domains(action='add')",
        "see them with GET /api/v1/domains, or add it with POST /api/v1/domains",
    ),
    ("then manage_domains(action='verify')", "then POST /api/v1/domains/{id}/verify"),
    ("move each with update_link(domain=…)", "move each with PATCH /api/v1/links/{id} (domain)"),
    ("find it with list_links", "find it with GET /api/v1/links"),
    (
        "not a cursor from list_links — pass next_cursor unchanged",
        "not a cursor from GET /api/v1/links — pass nextCursor unchanged",
    ),
)


def rest_wording(message: str) -> str:
    """`message` as the REST API says it."""
    for tool, rest in _REST_WORDS:
        message = message.replace(tool, rest)
    return message


def tool_wording(message: str) -> str:
    """A REST API message back in the words of the MCP tools."""
    for tool, rest in _REST_WORDS:
        message = message.replace(rest, tool)
    return message
