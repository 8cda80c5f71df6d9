"""Issue 15's table in one run: the read side at two market sizes, and the start-up.

    python benchmarks/reads.py [--trades 1000000,5000000] [--pg URL] [--pg-trades N[,M]]
                               [--orders 100000] [--runs 5] [--starts 9]

Runs benchmarks/book.py on a new SQLite file (and on --pg, a PostgreSQL database it
may empty: its energy-tui tables are dropped), growing the market from the first
--trades size to the second, then benchmarks/startup.py, and prints each figure of
the issue's table with its ratio to the same SQL run raw (on SQLite: with the plainest
exact conversion, and as the bare driver's floats), to the first size's figure, and
to `python -c 'import textual'`. Every ratio compares figures measured in this
run: on a machine shared with other work, absolute times move, ratios much less.
The order book screen's refresh is measured by benchmarks/tui.py (it needs the app).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROWS = (
    ("one prosumer's trades (50 newest)", "<= 5 ms at the larger size, <= 1.5x the first"),
    ("one prosumer's buys in a week (50)", ""),
    ("my open orders", ""),
    ("my orders, all (100)", ""),
    ("daily candles over 90 days", "<= 10 ms"),
    ("hourly candles of the last day", ""),
    ("stats for 365 days", "<= 1.5x raw"),
    ("recent trades (50)", "<= 1.5x raw"),
    ("book snapshot, 20 levels a side", "<= 1.5x raw"),
    ("stats for 365 days, first read", "(nothing kept)"),
    ("recent trades (50), first read", "(nothing kept)"),
)


def book_figures(url: str | None, trades: str, args: argparse.Namespace) -> dict:
    out = Path(tempfile.mkdtemp()) / "figures.json"
    command = [sys.executable, str(HERE / "book.py"), "--trades", trades, "--json", str(out)]
    command += ["--orders", str(args.orders), "--runs", str(args.runs)]
    if url:
        command += ["--db", url, "--reset"]
    subprocess.run(command, check=True)
    return json.loads(out.read_text())


def print_table(backend: str, figures: dict) -> None:
    sizes = sorted(figures, key=int)
    first, last = figures[sizes[0]], figures[sizes[-1]]
    print(f"\n{backend}: {' and '.join(f'{int(s):,}' for s in sizes)} trades")
    head = f"  {'read':<36} " + " ".join(f"{int(s) // 1000:>7}k" for s in sizes)
    print(f"{head} {'raw':>7} {'x raw':>6} {'x float':>7} {'x first':>8}  budget")
    for name, budget in ROWS:
        if name not in last:
            continue
        times = " ".join(f"{figures[s][name][0]:8.2f}" for s in sizes)
        ms, *floors = last[name]  # book.py: raw (exact on SQLite), then bare floats
        raw_text = f"{floors[0]:7.2f} {ms / floors[0]:6.2f}" if floors else f"{'-':>7} {'-':>6}"
        floats = f"{ms / floors[1]:7.2f}" if len(floors) > 1 else f"{'-':>7}"
        grow = ms / first[name][0] if first[name][0] else 0.0
        print(f"  {name:<36} {times} {raw_text} {floats} {grow:8.2f}  {budget}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trades", default="1000000,5000000")
    p.add_argument("--pg", metavar="URL", help="also on this PostgreSQL database (emptied)")
    p.add_argument("--pg-trades", default=None, help="sizes on PostgreSQL (default --trades)")
    p.add_argument("--orders", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--starts", type=int, default=9, help="runs of each start-up command")
    args = p.parse_args()
    results = {"sqlite": book_figures(None, args.trades, args)["sqlite"]}
    if args.pg:
        found = book_figures(args.pg, args.pg_trades or args.trades, args)
        results["postgresql"] = found["postgresql"]
    print("\n=== issue 15's figures (machine shared with other work: read the ratios) ===")
    for backend, figures in results.items():
        print_table(backend, figures)
    print()
    subprocess.run([sys.executable, str(HERE / "startup.py"), "--repeat", str(args.starts)])


if __name__ == "__main__":
    main()
