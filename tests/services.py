"""Services the suite needs from the machine (PostgreSQL, Chromium): a test that needs a missing
one is skipped with the reason and the command that would enable it, never left out silently.

`CLYPT_TEST_REQUIRE` (a comma list of `postgres`, `browser`, or `all`; .ci/run sets `all`)
turns such a skip into a failure, so CI cannot go green without them."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

HOW = {
    "postgres": 'eval "$(scripts/postgres)" (a throwaway server; `make test` does this), '
    "or set CLYPT_TEST_DATABASE_URL=postgresql://…",
    "browser": "sudo apt-get install chromium chromium-driver (`make test` does this as root)",
}


def required(service: str) -> bool:
    wanted = {s.strip() for s in os.environ.get("CLYPT_TEST_REQUIRE", "").split(",")}
    return bool(wanted & {service, "all"})


def unavailable(service: str, why: str) -> NoReturn:
    """Skip (or, where required, fail) the current test for want of `service`."""
    message = f"{service} unavailable: {why}; to run these tests: {HOW[service]}"
    if required(service):
        pytest.fail(f"{message} (CLYPT_TEST_REQUIRE asks for it)", pytrace=False)
    pytest.skip(message)
