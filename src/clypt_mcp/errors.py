"""The one error hierarchy every surface maps from (no HTTP or MCP imports here)."""

from __future__ import annotations

from typing import Any, ClassVar


class ClyptError(Exception):
    """Base class; an unexpected failure. Each subclass has a stable machine code."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    registry: ClassVar[dict[str, type[ClyptError]]] = {}

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

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


# Messages give hints in the words of MCP tools. The REST API answers with the endpoint
# instead, and the remote backend turns them back, so an assistant reads the same hint
# whether its server is embedded or remote.
_REST_WORDS = (
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
