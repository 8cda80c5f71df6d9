"""A database for the pgbench scripts next to this file (server side only, no Python client).

    python benchmarks/pgbench/setup.py postgresql://postgres@127.0.0.1:5432/test bench_pgb
    pgbench -n -h 127.0.0.1 -U postgres -c 8 -j 8 -T 8 -f benchmarks/pgbench/direct.sql bench_pgb
    pgbench -n -h 127.0.0.1 -U postgres -c 8 -j 8 -T 8 -f benchmarks/pgbench/combined.sql bench_pgb

matching.py's book (1000 resting orders, 200 traders) plus 200 funded traders `pb-000` to
`pb-199` of their own: pgbench stops a client at its first error, so buyers (100-199) only
buy and sellers (0-99) only sell, and no order is refused. `direct.sql` places one order
by one call of `energy_tui_place_order` (migration 0014); `combined.sql` by
`energy_tui_place_first` and, when queued, `energy_tui_place_wait` (migration 0020).
Alternate the two, and read their ratio: the machine's load moves between runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from benchmarks._common import fresh_database, populate, workload
from energy_tui.db.connect import open_database
from energy_tui.db.models import db
from energy_tui.db.urls import parse_url
from energy_tui.services import prosumers
from energy_tui.services.context import Actor


def main() -> None:
    url = fresh_database(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "bench_pgb")
    populate(url, workload(7, 200, 1000, 10))
    database = open_database(parse_url(url), pool_size=1, timeout=30)
    db.initialize(database)
    database.connect()
    operator = Actor.local_operator()
    for i in range(200):
        address = f"pb-{i:03d}"
        prosumers.add_prosumer(operator, address, address)
        prosumers.deposit(operator, address, "1000000")
        prosumers.add_meter_reading(operator, address, generated="1000000")
    database.close()
    print(url)


if __name__ == "__main__":
    main()
