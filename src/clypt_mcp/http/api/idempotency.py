"""`Idempotency-Key` on POST: the first answer is stored and replayed; never a duplicate.

Built only on the store's idempotency table (`put_idempotent` inserts or reports the key taken,
atomically, in every process), with two kinds of rows per attempt `n` of a key:

- the claim `rest:{key}` (`rest:{key}#n` after failures): whoever inserts it runs the request;
- the outcome `rest-result:{key}` (`…#n`): the status and JSON body to replay, or `failed`
  when the attempt ended in a 5xx, so a later retry may run it again as attempt `n + 1`.

A request that finds the claim taken waits for the outcome (a parallel retry), then replays it.
The `rest` prefixes keep REST keys apart from the keys MCP's create_link stores.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import anyio
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from clypt_mcp.errors import BadRequestError, ClyptError, ConflictError
from clypt_mcp.http.error_map import error_response, from_validation, unexpected
from clypt_mcp.http.state import AppState
from clypt_mcp.store.base import Store

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
_KEY_RE = re.compile(r"^[\x20-\x7e]{1,200}$")
MAX_ATTEMPTS = 5  # failed (5xx) attempts one key may go through before it is used up
WAIT_SECONDS = 10.0  # how long a parallel retry waits for the first request's answer
STALE_SECONDS = 60.0  # a claim this old without an outcome is taken as failed
POLL_SECONDS = 0.02


def claim_key(key: str, attempt: int) -> str:
    return f"rest:{key}" if attempt == 0 else f"rest:{key}#{attempt}"


def outcome_key(key: str, attempt: int) -> str:
    return f"rest-result:{key}" if attempt == 0 else f"rest-result:{key}#{attempt}"


def request_hash(request: Request, body: Any) -> str:
    """Same method, path and JSON body (in any key order or spacing) → same hash."""
    canonical = json.dumps(
        [request.method, request.url.path, body], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def header_key(request: Request) -> str | None:
    """The request's Idempotency-Key, if any.

    Raises:
        BadRequestError: when it is empty, too long or not printable ASCII.
    """
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not _KEY_RE.match(key):
        raise BadRequestError(
            f"{HEADER}: must be 1-200 printable ASCII characters — a UUID is a good choice"
        )
    return key


async def guard(
    state: AppState,
    request: Request,
    workspace_id: str,
    body: Any,
    call: Callable[[], Awaitable[Response]],
    *,
    keeps_secret: bool = False,
) -> Response:
    """Run `call` once per Idempotency-Key (when the request has one) and replay its answer."""
    key = header_key(request)
    if key is None:
        return await call()
    run = _Run(state.store, state.clock, workspace_id, key)
    return await run.handle(request_hash(request, body), call, keeps_secret)


class _Run:
    """One request's walk through the attempts of its key."""

    def __init__(self, store: Store, clock: Callable[[], datetime], ws: str, key: str) -> None:
        self.store = store
        self.clock = clock
        self.ws = ws
        self.key = key

    async def handle(
        self, digest: str, call: Callable[[], Awaitable[Response]], keeps_secret: bool
    ) -> Response:
        for attempt in range(MAX_ATTEMPTS):
            claim = json.dumps({"pending": True, "since": time.time()})
            if await self.store.put_idempotent(
                self.ws, claim_key(self.key, attempt), digest, claim, self.clock()
            ):
                return await self._first(attempt, digest, call, keeps_secret)
            outcome = await self._outcome(attempt, digest)
            if outcome is not None:
                return _replay(outcome)
        raise ConflictError(
            f"{HEADER} '{self.key}' failed {MAX_ATTEMPTS} times — send the request with a new key",
            field=HEADER,
        )

    async def _first(
        self,
        attempt: int,
        digest: str,
        call: Callable[[], Awaitable[Response]],
        keeps_secret: bool,
    ) -> Response:
        response = await _settled(call)
        if response.status_code >= 500:
            saved: dict[str, Any] = {"failed": True}
        else:
            saved = _stored(response, self.key, keeps_secret)
        try:
            await self.store.put_idempotent(
                self.ws, outcome_key(self.key, attempt), digest, json.dumps(saved), self.clock()
            )
        except ClyptError:
            log.exception("could not store the outcome of Idempotency-Key %r", self.key)
        return response

    async def _outcome(self, attempt: int, digest: str) -> dict[str, Any] | None:
        """The stored answer of `attempt`; None when it failed and a retry may run again.

        Raises:
            ConflictError: the key was used for another request, or is still running.
        """
        claim = await self._row(claim_key(self.key, attempt), digest)
        since = float(claim.get("since", 0))
        with anyio.move_on_after(WAIT_SECONDS):
            while True:
                row = await self.store.get_idempotent(self.ws, outcome_key(self.key, attempt))
                if row is not None:
                    outcome = _load(row[1])
                    return None if outcome.get("failed") else outcome
                if time.time() - since > STALE_SECONDS:
                    return None
                await anyio.sleep(POLL_SECONDS)
        raise ConflictError(
            f"a request with {HEADER} '{self.key}' is still running — retry it in a moment",
            field=HEADER,
        )

    async def _row(self, name: str, digest: str) -> dict[str, Any]:
        row = await self.store.get_idempotent(self.ws, name)
        if row is None or row[0] != digest:
            raise ConflictError(
                f"{HEADER} '{self.key}' was already used for a different request — "
                "use a new key for new content",
                field=HEADER,
            )
        return _load(row[1])


async def _settled(call: Callable[[], Awaitable[Response]]) -> Response:
    """The response of `call`, errors included, so that it can be stored."""
    try:
        return await call()
    except ClyptError as exc:
        return error_response(exc)
    except ValidationError as exc:
        return error_response(from_validation(exc))
    except Exception as exc:
        return unexpected(exc)


def _stored(response: Response, key: str, keeps_secret: bool) -> dict[str, Any]:
    body = json.loads(bytes(response.body))
    if keeps_secret and response.status_code < 300:
        # The secret is shown once and never stored; a replay says what was made instead.
        return {
            "status": ConflictError.status,
            "body": {
                "error": f"{HEADER} '{key}' already created API key {body.get('id')} "
                f"({body.get('prefix')}…); its secret was shown once and is not kept — revoke "
                "that key if the secret was lost, and create another with a new key",
                "code": ConflictError.code,
            },
        }
    return {"status": response.status_code, "body": body}


def _load(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    # Anything else under our prefix (an MCP key that happens to start with it) is a clash.
    return value if isinstance(value, dict) else {"status": 409, "body": _clash()}


def _clash() -> dict[str, str]:
    return {
        "error": f"this {HEADER} is already in use for something else — use a new key",
        "code": ConflictError.code,
    }


def _replay(outcome: dict[str, Any]) -> Response:
    status = int(outcome.get("status", 409))
    body = outcome.get("body", _clash())
    return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"})
