"""How often the A/B test rule (core/abtests.py) picks the right winner, and how often a false one.

Usage: .venv/bin/python bench/ab_rule.py [--runs 300] [--min 100] [--max 1000] [--confidence 0.95]

Each run draws two variants' visitors from seeded streams (run r, variant A: `Random("r-A")`),
A converting at `--low` and B at `--high` (default 5 % and 15 %), and once more with both at
`--equal` (10 %); the rule looks as the store would let it (every half minimum of visitors per
variant). It reports how many runs named B, named A, ended no_difference or kept running, and
at which sample size. No store: this measures the decision rule alone.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter

from clypt_mcp.core.abtests import decide, look_sizes


def run(
    seed: int, rates: dict[str, float], low: int, high: int, confidence: float
) -> tuple[str, int]:
    state = {"min": low, "max": high, "confidence": confidence}
    sizes = look_sizes(low, high)
    draws = {}
    for label, p in rates.items():
        stream = random.Random(f"{seed}-{label}")
        draws[label] = [stream.random() < p for _ in range(high)]
    step = max(1, low // 2)
    for seen in range(step, high + step, step):
        n = min(seen, high)
        counts = {label: (n, [sum(c[:s]) for s in sizes]) for label, c in draws.items()}
        status, winner, look = decide(state, list(rates), counts)
        if status != "running":
            return (f"winner {winner}" if winner else status), look.size
    return "running", high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--min", type=int, default=100)
    parser.add_argument("--max", type=int, default=1000)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--low", type=float, default=0.05)
    parser.add_argument("--high", type=float, default=0.15)
    parser.add_argument("--equal", type=float, default=0.10)
    args = parser.parse_args()
    cases = {
        f"A {args.low:.0%} vs B {args.high:.0%}": {"A": args.low, "B": args.high},
        f"A {args.equal:.0%} vs B {args.equal:.0%}": {"A": args.equal, "B": args.equal},
    }
    for name, rates in cases.items():
        outcomes: Counter[str] = Counter()
        sizes: Counter[int] = Counter()
        for seed in range(args.runs):
            outcome, size = run(seed, rates, args.min, args.max, args.confidence)
            outcomes[outcome] += 1
            sizes[size] += 1
        print(f"{name}: {dict(sorted(outcomes.items()))} of {args.runs}; "
              f"decided at visitors per variant {dict(sorted(sizes.items()))}")  # fmt: skip


if __name__ == "__main__":
    main()
