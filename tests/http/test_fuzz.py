"""A bounded property-based run of schemathesis against the live app: no 5xx, answers as documented.

Positive and negative cases for every operation of the served OpenAPI document, with a fixed
seed and a modest number of examples, against uvicorn on a free 127.0.0.1 port.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hypothesis.errors
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.http.live import serving_in_thread
from tests.http.seed import ENDPOINTS

EXAMPLES = 15
OPERATIONS = {
    (m, re.sub(r"\{(link|tag|folder|key|app|webhook|domain|job)\}", "{id}", p))
    for m, p, *_ in ENDPOINTS
} | {
    ("GET", "/me"),
    ("GET", "/usage"),
    ("POST", "/guest-links"),
}


def _routable(case: Any) -> bool:
    # Starlette's Mount("/api/v1") matches its rest with `.*`, which stops at a newline, so such
    # paths never reach the API's routes (they get the app's plain 404): see the report.
    return not any("%0a" in str(v).lower() for v in case.path_parameters.values())


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(tmp_path: Path) -> None:
    with serving_in_thread(tmp_path / "fuzz.db") as (origin, key):
        schema = schemathesis.openapi.from_url(f"{origin}/api/v1/openapi.json")
        schema.validate()
        auth = {"Authorization": f"Bearer {key}"}
        schema.config.update(headers=auth)  # the key is given, never generated
        operations = [_ok(result) for result in schema.get_all_operations()]
        # every endpoint (schemathesis leaves out the document's own URL)
        assert {op.label for op in operations} == {f"{m} {p}" for m, p in OPERATIONS} | {"GET /"}
        with requests.Session() as session:  # keep-alive: one connection for the whole run
            for operation in operations:
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    _run(operation, mode, auth, session)


def _ok(result: Ok[Any] | Err[Any]) -> Any:
    assert isinstance(result, Ok), result.err()
    return result.ok()


def _run(
    operation: Any, mode: GenerationMode, auth: dict[str, str], session: requests.Session
) -> None:
    # Schema-valid data may still break rules a schema cannot say (URL schemes, loops, cursors).
    excluded = [positive_data_acceptance]
    if operation.label == "POST /links/bulk":
        excluded.append(negative_data_rejection)  # bad items are reported one by one, by design

    @given(case=operation.as_strategy(generation_mode=mode).filter(_routable))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(session=session, headers=auth, excluded_checks=excluded)

    try:
        check()
    except hypothesis.errors.Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # nothing in this operation can be made invalid (e.g. only a path id): no negative case
