"""One trading process of the combining test (tests/test_pg_combined.py): the trading of
the concurrency test's worker, noting for each placement its place in the batch its
commit placed (migration 0020; 1: first, or alone)."""

from __future__ import annotations

from typing import Any

from energy_tui.services.market import server
from tests import market_worker

PROCESSES = 4
ORDERS = 150  # per process


def run(
    url: str, addresses: list[str], seed: int, start_at: float
) -> tuple[market_worker.Report, list[int]]:
    server.COMBINED = True
    in_batch: list[int] = []
    combined = server._combined

    def noted(params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        rows = combined(params)
        last = rows[-1]
        # a writer alone for a while makes the direct call (its rows have no such column)
        in_batch.append(int(last[server.IN_BATCH] or 0) if len(last) > server.IN_BATCH else 1)
        return rows

    server._combined = noted
    return market_worker.run(url, addresses, seed, ORDERS, start_at), in_batch
