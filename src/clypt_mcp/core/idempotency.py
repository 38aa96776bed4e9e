"""Idempotency keys, once for every surface: REST's `Idempotency-Key` header and MCP's
`idempotency_key` argument (embedded, or remote through the REST API) share one key space per
workspace.

- the same key with the same request gives the first answer, whichever surface asks;
- the same key with another request is a ConflictError naming the key;
- a request that fails (rejected: bad input, a taken code… or an unexpected error) is not
  remembered: the key stays free for a corrected retry.

A request is an operation name (`create_link`…) and its input as JSON: the validated model when
the input is valid, so that REST's camelCase body and an MCP tool call for the same link are the
same request.

Built on the store's idempotency table alone (`put_idempotent` inserts or reports the name taken,
atomically, in every process), with two rows per attempt `n` of a key: the claim (whoever
inserts it runs the request) and the outcome (the answer as JSON, or `failed`, after which the
next attempt may run). A request that finds the claim taken waits for the outcome (a parallel
retry), then replays it. Row names add a tab and the attempt to the key; a key is printable
ASCII, so no key can spell another's rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel

from clypt_mcp.errors import ClyptError, ConflictError, Hint, InvalidInputError
from clypt_mcp.store.base import Store

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
KEY_RE = re.compile(r"^[\x20-\x7e]{1,200}$")
MAX_ATTEMPTS = 5  # failed attempts one key may go through before it is used up
WAIT_SECONDS = 10.0  # how long a parallel retry waits for the first request's answer
STALE_SECONDS = 60.0  # a claim this old without an outcome is taken as failed
POLL_SECONDS = 0.02
FIELD = "idempotency_key"  # a term: each surface words it (REST: the Idempotency-Key header)


def digest(operation: str, request: Any) -> str:
    """Same operation and input (in any key order or spacing) → same hash."""
    canonical = json.dumps([operation, request], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    """`key` when it is 1-200 printable ASCII characters (surrounding spaces dropped).

    Raises:
        InvalidInputError: naming the rule.
    """
    key = key.strip()
    if not KEY_RE.match(key):
        raise InvalidInputError(
            Hint(FIELD, "must be 1-200 printable ASCII characters", "a UUID is a good choice")
        )
    return key


def claim_name(key: str, attempt: int) -> str:
    return f"{key}\t{attempt}"


def outcome_name(key: str, attempt: int) -> str:
    return f"{key}\t{attempt}\tanswer"


class Idempotency:
    """Runs a request once per key of a workspace and replays its answer."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    async def once(
        self,
        workspace_id: str,
        key: str | None,
        operation: str,
        request: Any,
        run: Callable[[], Awaitable[M]],
        model: type[M],
        *,
        secret: str | None = None,
    ) -> tuple[M, bool]:
        """`(answer, replayed)`: `run()`'s answer, or the one first given under `key`.

        `secret` names a field of the answer that is shown once and never stored; a replay
        of such an answer is a ConflictError saying what was made.

        Raises:
            ConflictError: the key was used for another request, is still running, or failed
                too many times.
            InvalidInputError: a malformed key.
            Whatever `run` raises (and then nothing is remembered).
        """
        if key is None:
            return await run(), False
        key = check_key(key)
        request_hash = digest(operation, request)
        for attempt in range(MAX_ATTEMPTS):
            claim = json.dumps({"pending": True, "since": time.time()})
            claimed = await self.store.put_idempotent(
                workspace_id, claim_name(key, attempt), request_hash, claim, self.clock()
            )
            if claimed:
                answer = await self._first(workspace_id, key, attempt, request_hash, run, secret)
                return answer, False
            saved = await self._earlier(workspace_id, key, attempt, request_hash)
            if saved is not None:
                return _replay(saved, model, key, secret), True
        raise ConflictError(
            Hint(FIELD, f"'{key}' failed {MAX_ATTEMPTS} times", "send the request with a new key")
        )

    async def _first(
        self,
        ws: str,
        key: str,
        attempt: int,
        request_hash: str,
        run: Callable[[], Awaitable[M]],
        secret: str | None,
    ) -> M:
        try:
            answer = await run()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._save(ws, key, attempt, request_hash, {"failed": True})
            raise
        saved = answer.model_dump(mode="json", exclude={secret} if secret else None)
        await self._save(ws, key, attempt, request_hash, {"answer": saved})
        return answer

    async def _save(
        self, ws: str, key: str, attempt: int, request_hash: str, outcome: dict[str, Any]
    ) -> None:
        try:
            await self.store.put_idempotent(
                ws, outcome_name(key, attempt), request_hash, json.dumps(outcome), self.clock()
            )
        except ClyptError:
            log.exception("could not store the outcome of idempotency key %r", key)

    async def _earlier(
        self, ws: str, key: str, attempt: int, request_hash: str
    ) -> dict[str, Any] | None:
        """The answer `attempt` gave; None when it failed and the next attempt may run.

        Raises:
            ConflictError: the key was used for another request, or is still running.
        """
        with anyio.move_on_after(WAIT_SECONDS):
            while True:
                row = await self.store.get_idempotent(ws, outcome_name(key, attempt))
                if row is not None:
                    outcome = _load(row[1])
                    if "answer" not in outcome:
                        return None  # failed or rejected: forgotten
                    self._same_request(key, row[0], request_hash)
                    answer: dict[str, Any] = outcome["answer"]
                    return answer
                claim = await self.store.get_idempotent(ws, claim_name(key, attempt))
                if claim is None:  # swept away meanwhile: the next attempt may run
                    return None
                self._same_request(key, claim[0], request_hash)
                if time.time() - float(_load(claim[1]).get("since", 0)) > STALE_SECONDS:
                    return None
                await anyio.sleep(POLL_SECONDS)
        raise ConflictError(
            Hint(FIELD, f"a request with '{key}' is still running", "retry it in a moment")
        )

    @staticmethod
    def _same_request(key: str, stored_hash: str, request_hash: str) -> None:
        if stored_hash != request_hash:
            raise ConflictError(
                Hint(
                    FIELD,
                    f"'{key}' was already used for a different request",
                    "use a new key for new content",
                )
            )


def _load(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {}


def _replay(saved: dict[str, Any], model: type[M], key: str, secret: str | None) -> M:
    if secret is not None:
        raise ConflictError(
            Hint(
                FIELD,
                f"'{key}' already made {saved.get('id')} ({saved.get('prefix')}…), whose "
                f"{secret} was shown once and is not kept",
                f"revoke it if the {secret} was lost, and send the request with a new key",
            )
        )
    return model.model_validate(saved)
