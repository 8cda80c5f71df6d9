"""Start-up of the command line against `python -c 'import textual'`, in one run.

    python benchmarks/startup.py [--repeat 9] [--db URL]

Each command runs in a fresh interpreter, interleaved with the floor so that a loaded
machine slows both alike; prints medians and each one's ratio to the floor (budgets
from issue 15: `--help` <= 1.3x, a one-shot `book` or `order place` <= 1.6x). The
`book` and `order place` runs use a SQLite file made and migrated first (placing an
order for the demo prosumer `p0001`, which the script creates).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGETS = {"--help": 1.3, "book": 1.6, "order place": 1.6}


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


SETUP = """
import sys
from benchmarks._common import prepare
from energy_tui.services import keys, prosumers, users
from energy_tui.services.context import Actor

_url, database = prepare(sys.argv[1], reset=False)
admin = Actor(label="bench:setup", role="admin")
prosumers.add_prosumer(admin, "p0001", "Bench")
prosumers.deposit(admin, "p0001", "1000000")
users.add_user(admin, "bench", "bench@example.org", "bench-password", rounds=4,
               prosumer_address="p0001")
print(keys.create_key(admin, "bench", "bench", ("read", "trade")).key)
"""


def prepare(url: str, env: dict[str, str]) -> str:
    """A migrated database with a funded trader; returns the trader's API key."""
    root = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, "-c", SETUP, url],
        env=env,
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.split()[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=9)
    p.add_argument("--db", help="database URL (default: a new SQLite file)")
    args = p.parse_args()
    home = Path(tempfile.mkdtemp())
    url = args.db or f"sqlite:///{home / 'start.db'}"  # --db: an empty database
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home), "NO_COLOR": "1"}
    env["ENERGY_TUI_API_KEY"] = prepare(url, env)
    cli = [sys.executable, "-m", "energy_tui"]
    runs = {
        "import textual": [sys.executable, "-c", "import textual"],
        "--help": [*cli, "--help"],
        "book": [*cli, "--db", url, "book"],
        "order place": [*cli, "--db", url, "order", "place", "buy", "1", "0.1", "--yes"],
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, argv in runs.items():
            times[name].append(timed(argv, env))
    floor = statistics.median(times["import textual"])
    print(f"start-up, median of {args.repeat} (machine shared: read the ratios)")
    for name, values in times.items():
        median = statistics.median(values)
        budget = BUDGETS.get(name)
        verdict = (
            ""
            if budget is None
            else f"  budget {budget}x: " + ("ok" if median <= budget * floor else "OVER")
        )
        print(f"  {name:<16} {median * 1000:7.1f} ms  {median / floor:5.2f}x textual{verdict}")


if __name__ == "__main__":
    main()
