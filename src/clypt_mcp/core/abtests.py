"""A/B tests that decide (#15 item 4): the statistics, the decision rule and its state.

A link with variants and `track_conversions` may carry a test: a goal (`clicks`: a visit whose
click id comes back with any conversion; or an event name: one with that event), a minimum
and a maximum of visitors per variant, and a confidence. Its state is a JSON object on the
link (`links.ab_test`): the settings, `started_at`, `status` (`running`, `winner`,
`no_difference`) and, once decided, `winner`, `decided_at`, `decided_by` and the figures as at
the decision. Redirects read it with the link (core/redirects.py): a stored winner is the only
variant drawn from then on.

The method: each variant's visitors are its person visits (clicks, not bots) that carry a click
id, from the test's start, in the order they came; a visitor converted when a conversion for
their click id reached the goal. The test looks at the data at fixed sample sizes per variant,
`n_j = min(j × minimum, maximum)` for j = 1 … K (K = ⌈maximum / minimum⌉ ≤ 20), each look using
exactly the first n_j visitors of every variant, so looking more often never adds looks. At a
look every variant needs its n_j visitors; the variant with the highest rate leads, and it wins
when a two-sided two-proportion z-test (pooled) against every other variant gives
p < (1 − confidence) / (K × (variants − 1)) (Bonferroni over the looks and the comparisons, so
the chance of a false winner stays below 1 − confidence however the test is watched). After
the last look (every variant at the maximum) without a winner the test ends `no_difference`.

Evaluation runs when a test is read (get_link, get_analytics), when a conversion for its link
arrives, and every few seconds in `serve` (`AbTestWatcher`), never on the redirect path. A
decision is stored with a compare-and-set on the state, so it is made once however many
processes evaluate, and reaches every process's redirects as any change to the link does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio

from clypt_mcp.errors import InvalidInputError, UnavailableError
from clypt_mcp.models import AbTestResult, AbTestSpec, AbVariantResult
from clypt_mcp.store.base import LinkRecord, Store

if TYPE_CHECKING:
    from collections.abc import Awaitable

log = logging.getLogger(__name__)

CLICKS_GOAL = "clicks"
WATCH_SECONDS = 5.0  # serve re-evaluates running tests this often (the contract: ≤ 10 s)


def new_state(spec: AbTestSpec, now: datetime) -> dict[str, Any]:
    """The stored state of a test that starts now."""
    assert spec.goal is not None and spec.min_visitors_per_variant is not None
    assert spec.max_visitors_per_variant is not None
    return {
        "goal": spec.goal,
        "min": spec.min_visitors_per_variant,
        "max": spec.max_visitors_per_variant,
        "confidence": spec.confidence,
        "started_at": now.isoformat(),
        "status": "running",
    }


def ended_by_hand(state: dict[str, Any], winner: str, now: datetime) -> dict[str, Any]:
    return {**state, "status": "winner", "winner": winner, "decided_at": now.isoformat(),
            "decided_by": "hand"}  # fmt: skip


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of x1/n1 against x2/n2."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0  # no conversions at all, or every visitor converted: nothing tells them apart
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


@dataclass(frozen=True)
class Look:
    """The figures of every variant at one sample size."""

    size: int
    visitors: dict[str, int]
    conversions: dict[str, int]

    def rate(self, label: str) -> float:
        n = self.visitors.get(label, 0)
        return self.conversions.get(label, 0) / n if n else 0.0

    def results(self, labels: list[str]) -> list[AbVariantResult]:
        """Each variant's figures, its p-value against the leader (the leader's: against the
        runner-up)."""
        ranked = sorted(labels, key=lambda lb: (-self.rate(lb), labels.index(lb)))
        out = []
        for label in labels:
            other = ranked[1] if label == ranked[0] and len(ranked) > 1 else ranked[0]
            p = None
            if other != label and self.visitors.get(label) and self.visitors.get(other):
                p = two_proportion_p(
                    self.conversions.get(label, 0), self.visitors[label],
                    self.conversions.get(other, 0), self.visitors[other],
                )  # fmt: skip
            out.append(
                AbVariantResult(
                    label=label,
                    visitors=self.visitors.get(label, 0),
                    conversions=self.conversions.get(label, 0),
                    rate=round(self.rate(label), 4),
                    p_value=None if p is None else round(p, 6),
                )
            )
        return out


def look_sizes(low: int, high: int) -> list[int]:
    """The sample sizes per variant at which the test looks: the minimum's multiples, then the
    maximum."""
    return [min(j * low, high) for j in range(1, math.ceil(high / low) + 1)]


def decide(
    state: dict[str, Any], labels: list[str], counts: dict[str, tuple[int, list[int]]]
) -> tuple[str, str | None, Look]:
    """(status, winner, the figures to show) for a running test over `counts` (per variant, as
    `Store.ab_test_counts` gives them for `look_sizes`)."""
    sizes = look_sizes(int(state["min"]), int(state["max"]))
    alpha = (1 - float(state["confidence"])) / (len(sizes) * max(1, len(labels) - 1))
    seen = {lb: counts.get(lb, (0, [0] * len(sizes))) for lb in labels}
    current = Look(
        0, {lb: n for lb, (n, _) in seen.items()}, {lb: x[-1] for lb, (_, x) in seen.items()}
    )
    for j, size in enumerate(sizes):
        if any(seen[lb][0] < size for lb in labels):
            break  # this look is not complete yet: the test runs on
        look = Look(size, dict.fromkeys(labels, size), {lb: seen[lb][1][j] for lb in labels})
        ranked = sorted(labels, key=lambda lb: (-look.rate(lb), labels.index(lb)))
        leader = ranked[0]
        x = look.conversions
        if look.rate(leader) > look.rate(ranked[1]) and all(
            two_proportion_p(x[leader], size, x[lb], size) < alpha for lb in ranked[1:]
        ):
            return "winner", leader, look
        if size == sizes[-1]:
            return "no_difference", None, look
    return "running", None, current


def to_result(state: dict[str, Any], variants: list[AbVariantResult]) -> AbTestResult:
    return AbTestResult(
        goal=state["goal"],
        min_visitors_per_variant=int(state["min"]),
        max_visitors_per_variant=int(state["max"]),
        confidence=float(state["confidence"]),
        started_at=datetime.fromisoformat(state["started_at"]),
        status=state["status"],
        winner=state.get("winner"),
        decided_at=datetime.fromisoformat(state["decided_at"]) if state.get("decided_at") else None,
        decided_by=state.get("decided_by"),
        variants=variants,
    )


def stored_result(state: dict[str, Any]) -> AbTestResult:
    """The result as stored (no store read): a decided test's figures, a running one's none."""
    return to_result(state, [AbVariantResult(**v) for v in state.get("variants") or []])


async def evaluate(
    store: Store, rec: LinkRecord, labels: list[str], now: datetime
) -> tuple[AbTestResult, bool]:
    """The link's test result, deciding it when the data allow; and whether this call stored a
    decision (the caller tells the redirects). A decided test is shown as stored."""
    state = rec.ab_test
    assert state is not None
    if state.get("status") != "running" or len(labels) < 2:
        return stored_result(state), False
    goal = str(state["goal"])
    started = int(datetime.fromisoformat(state["started_at"]).timestamp())
    sizes = look_sizes(int(state["min"]), int(state["max"]))
    counts = await store.ab_test_counts(
        rec.id, started, None if goal == CLICKS_GOAL else goal, sizes
    )
    status, winner, look = decide(state, labels, counts)
    figures = look.results(labels)
    if status == "running":
        return to_result(state, figures), False
    decided = {**state, "status": status, "decided_at": now.isoformat(), "decided_by": "test",
               "variants": [f.model_dump() for f in figures]}  # fmt: skip
    if winner is not None:
        decided["winner"] = winner
    if await store.swap_ab_test(rec.id, state, decided):
        log.info("A/B test of %s ended: %s %s", rec.code, status, winner or "")
        rec.ab_test = decided
        return stored_result(decided), True
    fresh = await store.get_link(rec.workspace_id, link_id=rec.id)  # another process decided
    if fresh is None or fresh.ab_test is None:
        return to_result(state, figures), False
    return stored_result(fresh.ab_test), False


class AbTestWatcher:
    """`serve`'s periodic check: every `every` seconds, evaluate each running test (so visits
    alone, without reads or conversions, still end a test within that time)."""

    def __init__(self, check: Callable[[], Awaitable[int]], every: float = WATCH_SECONDS) -> None:
        self.check = check
        self.every = every
        self._stop = anyio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            with anyio.move_on_after(self.every):
                await self._stop.wait()
            if self._stop.is_set():
                return
            try:
                await self.check()
            except UnavailableError as exc:  # the store is away: a line, not a traceback
                log.warning("A/B tests are checked again once the store is back: %s", exc.message)
            except Exception:
                log.exception("checking A/B tests failed; trying again later")

    def close(self) -> None:
        self._stop.set()


def labels_of(variants: list[dict[str, Any]] | None) -> list[str]:
    """The labels clicks record for a link's variants (`#n` when unlabelled)."""
    return [str(v.get("label") or f"#{i + 1}") for i, v in enumerate(variants or [])]


def check_link(state: dict[str, Any] | None, variants: list[dict[str, Any]] | None,
               track: bool) -> None:  # fmt: skip
    """Raises InvalidInputError when a link with this test cannot run it."""
    if state is None:
        return
    labels = labels_of(variants)
    if len(labels) < 2:
        raise InvalidInputError(
            "ab_test: needs at least two variants to compare — give the link variants",
            field="ab_test",
        )
    if len(set(labels)) < len(labels):
        raise InvalidInputError(
            "variants: an A/B test needs each variant's label to differ", field="variants"
        )
    if not track:
        raise InvalidInputError(
            "ab_test: needs track_conversions: true (the test compares the conversions of "
            "each variant's click ids)",
            field="track_conversions",
        )


def next_state(
    spec: AbTestSpec | None,
    given: bool,
    current: dict[str, Any] | None,
    variants_changed: bool,
    labels: list[str],
    now: datetime,
) -> dict[str, Any] | None:
    """The test state after an update: `ab_test: null` ends it (variants by weight again); a
    spec starts it afresh; `{winner}` ends the running test by hand; new variants restart it
    with the same settings."""
    if given:
        if spec is None:
            return None
        if spec.winner is None:
            return new_state(spec, now)
        if current is None:
            raise InvalidInputError(
                "ab_test.winner: the link has no A/B test to end — give goal and "
                "min_visitors_per_variant to start one",
                field="ab_test.winner",
            )
        if current.get("status") != "running":
            raise InvalidInputError(
                f"ab_test.winner: the test already ended ({current.get('status')}) — send a "
                "whole ab_test to restart it",
                field="ab_test.winner",
            )
        if spec.winner not in labels:
            raise InvalidInputError(
                f"ab_test.winner: '{spec.winner}' is not a variant of this link (its labels: "
                + ", ".join(labels)
                + ")",
                field="ab_test.winner",
            )
        return ended_by_hand(current, spec.winner, now)
    if current is not None and variants_changed:
        return {key: current[key] for key in ("goal", "min", "max", "confidence")} | {
            "started_at": now.isoformat(),
            "status": "running",
        }
    return current
