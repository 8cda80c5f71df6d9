"""1 writer against N writers, and each against the raw-driver floor, paired within rounds.

    python benchmarks/writers.py --db URL [--writers 8] [--orders 2000] [--repeat 3]

The issue's budgets compare N writers with 1 writer ("8 writers >= the 1-writer rate")
and 1 writer with the floor. On a shared machine the load moves between runs made
minutes apart, so each round runs the four configurations one after another
(energy-tui and benchmarks/floor.py's raw-driver matcher, 1 and N writers each), in an
order that alternates from round to round, each on a fresh database filled the same
way; the ratios are taken within each round and their median reported with the
medians of the rates. The workload is benchmarks/matching.py's.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    paired_rounds,
    percentile,
    server_cpu_text,
    workload,
)
from benchmarks.floor import FloorPlacer, argument_parser, banner
from benchmarks.matching import AppPlacer

KINDS: dict[str, Any] = {"energy-tui": AppPlacer, "floor": FloorPlacer}


def main() -> None:
    args = argument_parser(__doc__.splitlines()[0]).parse_args()
    writers = args.writers if args.writers > 1 else 8
    load = workload(args.seed, args.traders, args.resting, args.orders)
    print(banner(args).replace(f"{args.writers} writer(s)", f"1 and {writers} writers"))
    figures = paired_rounds(KINDS, writers, load, args.db, args.name, args.repeat)
    print(f"medians of {args.repeat} round(s):")
    for (kind, n), runs in figures.items():
        p50 = statistics.median(percentile(f.latencies, 0.5) for f in runs)
        p99 = statistics.median(percentile(f.latencies, 0.99) for f in runs)
        print(
            f"  {kind:10} {n} writer(s) {statistics.median(f.rate for f in runs):8,.0f} orders/s"
            f"  p50 {p50 * 1000:7.2f} ms  p99 {p99 * 1000:7.2f} ms  p99/p50 {p99 / p50:.1f}  "
            f"lock wait {statistics.median(f.lock_share for f in runs):5.1%}  client CPU "
            f"{statistics.median(f.cpu_per_order for f in runs) * 1e6:5.0f} us/order"
            f"{server_cpu_text(runs)}"
        )

    def paired(a: tuple[str, int], b: tuple[str, int]) -> str:
        ratios = [x.rate / y.rate for x, y in zip(figures[a], figures[b], strict=True)]
        return f"{statistics.median(ratios):.2f}x (rounds: {', '.join(f'{q:.2f}' for q in ratios)})"

    n, app, floor = writers, "energy-tui", "floor"
    print("ratios within each round, median:")
    print(f"  energy-tui, {n} writers / 1 writer: {paired((app, n), (app, 1))}")
    print(f"  floor, {n} writers / 1 writer:      {paired((floor, n), (floor, 1))}")
    print(f"  energy-tui / floor, 1 writer:      {paired((app, 1), (floor, 1))}")
    print(f"  energy-tui / floor, {n} writers:     {paired((app, n), (floor, n))}")


if __name__ == "__main__":
    main()
