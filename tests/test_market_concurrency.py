"""Four processes trade against one database at once; the market stays consistent.

Each process (multiprocessing 'spawn', its own connection) places 250 random orders
for one of its three prosumers (prices around a crossing mid, both sides, some IOC,
some FOK, some market orders with or without a cap, some expiring after 1-2 s),
cancels and amends some of its resting ones (new prices that may cross, smaller and
larger amounts) and now and then cancels all orders of one of its prosumers; its last
order rests below the book and expires. Afterwards all six invariants of DESIGN §3
hold, the statistics agree with a rebuild, and no process met an error other than the
market's own refusals (not enough WATT or energy, crossing its own order, cancelling
or amending an order that has meanwhile filled or expired, a FOK that could not fill
after all). There are no retries: a deadlock, a serialization failure or a lock
timeout fails the test with the worker's traceback.
A fifth process runs `stats rebuild` over and over meanwhile: it must never find a day
or a candle bucket that disagrees with the trades (it would, were it not under the
market lock). Afterwards the candle buckets kept by the four processes equal a
recomputation from the trades, bucket by bucket.
"""

from __future__ import annotations

import multiprocessing
import time

from energy_tui.db.models import EnergyOrder, EnergyTrade
from energy_tui.services.market import candles, invariants, stats, sweep_expired
from tests import market_worker
from tests.market_support import trader

PROCESSES = 4
ORDERS = 250  # per process
PROSUMERS = 3  # per process, one picked at random for each order


def test_four_processes_placing_and_cancelling_keep_every_invariant(backend):
    accounts = [[f"w{n}-p{k}" for k in range(PROSUMERS)] for n in range(PROCESSES)]
    for address in (a for group in accounts for a in group):
        trader(address, watt="100000", energy="10000")
    start_at = time.time() + 3  # after every process has started and connected
    jobs = [(backend.url, group, 1000 + n, ORDERS, start_at) for n, group in enumerate(accounts)]

    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(PROCESSES + 1) as pool:
        rebuilt = pool.apply_async(market_worker.rebuild_statistics, (backend.url, start_at, 2.0))
        reports = pool.starmap(market_worker.run, jobs)
        disagreements = rebuilt.get()
    elapsed = time.monotonic() - started

    for report in reports:
        print(
            f"{backend.name} {report.address}: {report.placed} placed, {report.fills} fills, "
            f"{report.cancelled} cancelled, {report.amended} amended, refused {report.refused}, "
            f"{report.seconds:.1f} s, slowest step {report.slowest * 1000:.0f} ms"
        )
    print(f"{backend.name}: {EnergyTrade.select().count()} trades in {elapsed:.1f} s")
    assert [r.unexpected for r in reports] == [[]] * PROCESSES
    assert disagreements == []  # a rebuild running alongside saw consistent states only
    assert sum(r.placed for r in reports) > ORDERS * PROCESSES // 2
    assert EnergyTrade.select().count() > 100
    assert invariants.check() == []
    assert [found.line() for found in candles.differences()] == []
    assert sum(bucket.trades for bucket in candles.stored(86400).values()) == (
        EnergyTrade.select().count()
    )
    assert stats.rebuild() == []
    time.sleep(2.1)  # let the last 1-2 s expiries come due
    sweep_expired()
    assert EnergyOrder.select().where(EnergyOrder.status == "expired").exists()
    assert invariants.check() == []
