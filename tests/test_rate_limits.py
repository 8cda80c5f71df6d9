"""The HTTP API's shared rate limits (services/rate_limits) on every backend: requests
racing in several threads, each with its own connection as worker processes have,
never take more than the allowance between them."""

from __future__ import annotations

import threading

import pytest

from energy_tui.db.models import db
from energy_tui.services.rate_limits import Limit, SharedLimiter


def test_racing_requests_never_take_more_than_the_allowance(backend, now):
    limiters = [SharedLimiter() for _ in range(4)]  # as four worker processes
    allowed: list[int] = []
    start = threading.Barrier(len(limiters))

    def worker(limiter: SharedLimiter) -> None:
        mine = 0
        start.wait()
        with db.connection_context():
            for _ in range(15):
                if limiter.wait([Limit("a:10.0.0.1", 25), Limit("k:abc", 1000)]) == 0:
                    mine += 1
        allowed.append(mine)

    threads = [threading.Thread(target=worker, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 25  # of 60 asked, with the clock standing still


def test_a_limit_of_0_is_off_and_touches_no_row(backend, now):
    limiter = SharedLimiter()
    assert all(limiter.wait([Limit("a:x", 0)]) == 0 for _ in range(100))
    assert db.execute_sql("SELECT COUNT(*) FROM api_rate_limits").fetchone()[0] == 0


def test_the_counters_table_is_unlogged_on_postgresql(backend):
    # its commits then wait for no WAL flush (an fsync each request); a crash that empties
    # it only refills every bucket
    if backend.name != "postgres":
        pytest.skip("UNLOGGED is PostgreSQL's")
    row = db.execute_sql(
        "SELECT relpersistence FROM pg_class WHERE relname = 'api_rate_limits'"
    ).fetchone()
    assert row == ("u",)
