"""PostgreSQL: placements combined (migration 0020) or one call each, 1 and N writers, paired.

    python benchmarks/combining.py --db postgresql://... [--writers 8] [--orders 1000] [--repeat 5]

The issue's budget compares N writers with 1 writer, and on a shared machine the load
moves between runs made minutes apart. So each round runs the four configurations one
after another (1 and N writers, combined and one call each), in an order that
alternates from round to round, each on a fresh database filled the same way, and the
ratios are taken within each round, then their median reported with the medians of the
rates. The workload is benchmarks/matching.py's.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    RunFigures,
    drop_database,
    fresh_database,
    percentile,
    populate,
    run_writers,
    workload,
)
from benchmarks.floor import argument_parser
from benchmarks.matching import CombinedPlacer, DirectPlacer

KINDS: dict[str, Any] = {"combined": CombinedPlacer, "direct": DirectPlacer}


def main() -> None:
    args = argument_parser(__doc__.splitlines()[0]).parse_args()
    if not args.db or not args.db.startswith("postgres"):
        raise SystemExit("--db must be a PostgreSQL URL: combining is PostgreSQL's")
    writers = args.writers if args.writers > 1 else 8
    load = workload(args.seed, args.traders, args.resting, args.orders)
    configs = [(kind, n) for kind in KINDS for n in (1, writers)]
    figures: dict[tuple[str, int], list[RunFigures]] = {c: [] for c in configs}
    print(
        f"backend postgres, 1 and {writers} writers, {args.orders} orders on a book of "
        f"{args.resting} resting orders, {args.repeat} round(s)"
    )
    for r in range(args.repeat):
        for kind, n in configs if r % 2 == 0 else list(reversed(configs)):
            url = fresh_database(args.db, args.name)
            try:
                populate(url, load)
                run = run_writers(KINDS[kind], url, load.incoming, n)
            finally:
                drop_database(url)
            figures[(kind, n)].append(run)
            print(f"  round {r + 1} {kind:8} {n} writer(s) {run.line()}", flush=True)
    print(f"medians of {args.repeat} round(s):")
    for kind, n in configs:
        runs = figures[(kind, n)]
        p50 = statistics.median(percentile(f.latencies, 0.5) for f in runs)
        p99 = statistics.median(percentile(f.latencies, 0.99) for f in runs)
        print(
            f"  {kind:8} {n} writer(s) {statistics.median(f.rate for f in runs):8,.0f} orders/s"
            f"  p50 {p50 * 1000:7.2f} ms  p99 {p99 * 1000:7.2f} ms  p99/p50 {p99 / p50:.1f}"
        )

    def paired(a: tuple[str, int], b: tuple[str, int]) -> str:
        ratios = [x.rate / y.rate for x, y in zip(figures[a], figures[b], strict=True)]
        return f"{statistics.median(ratios):.2f}x (rounds: {', '.join(f'{q:.2f}' for q in ratios)})"

    n = writers
    print("ratios within each round, median:")
    print(
        f"  combined, {n} writers / combined, 1 writer: {paired(('combined', n), ('combined', 1))}"
    )
    print(f"  combined, {n} writers / direct, 1 writer:   {paired(('combined', n), ('direct', 1))}")
    print(f"  direct, {n} writers / direct, 1 writer:     {paired(('direct', n), ('direct', 1))}")
    print(
        f"  combined / direct, {n} writers:              {paired(('combined', n), ('direct', n))}"
    )
    print(f"  combined / direct, 1 writer:                {paired(('combined', 1), ('direct', 1))}")


if __name__ == "__main__":
    main()
