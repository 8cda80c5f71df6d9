"""Candle buckets (issue 15): kept with each trade, exact, read by `stats.candles`,
checked and corrected by `stats rebuild`, back-filled by migration 0011."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from energy_tui.db.migrations import m0011_candle_buckets
from energy_tui.db.models import CANDLE_SIZES, EnergyTrade, MarketCandle
from energy_tui.services.market import candles, invariants, stats
from tests.clock_support import freeze
from tests.market_support import place, trader

D = Decimal
START = dt.datetime(2026, 3, 2, 23, 20)


@pytest.fixture(autouse=True)
def market(backend):
    yield backend
    assert invariants.check() == []


def trade_across_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten 0.10 kWh trades (a float sum would miss 1.00), then more across a quarter,
    an hour and a day boundary, each at its own price."""
    now = freeze(monkeypatch, START)
    seller, buyer = trader("seller", energy="100"), trader("buyer", watt="1000")
    for i in range(10):
        place(seller, "sell", "0.10", f"0.{1000 + i}")
        place(buyer, "buy", "0.10", f"0.{1000 + i}")
    for minutes, amount, price in ((10, "1.25", "0.1500"), (35, "2", "0.0900"), (1, "3", "0.2")):
        now.advance(minutes=minutes)
        place(seller, "sell", amount, price)
        place(buyer, "buy", amount, price)


def as_tuples(found: list[stats.Candle]) -> list[tuple[object, ...]]:
    return [(c.start, c.open, c.high, c.low, c.close, c.volume, c.trades) for c in found]


def test_buckets_kept_with_each_trade_equal_a_recomputation_from_the_trades(monkeypatch):
    trade_across_buckets(monkeypatch)

    assert candles.differences() == []
    since = dt.datetime(2026, 3, 2)
    for seconds in CANDLE_SIZES:
        kept = stats.candles(seconds, since)
        computed = stats._candles_from_trades(seconds, since, dt.datetime(2026, 3, 4))
        assert as_tuples(kept) == as_tuples(computed), seconds
    first, last = stats.candles(86400, since)
    assert (first.start, first.open, first.high, first.close) == (
        since,
        D("0.1000"),
        D("0.1500"),
        D("0.1500"),
    )
    assert (first.volume, first.trades) == (D("2.25"), 11)  # ten 0.10 make exactly 1.00
    assert (last.start, last.open, last.low, last.volume) == (
        dt.datetime(2026, 3, 3),
        D("0.0900"),
        D("0.0900"),
        D("5.00"),
    )


def test_rebuild_corrects_a_bucket_that_disagrees_and_then_finds_none(monkeypatch):
    trade_across_buckets(monkeypatch)
    hour = MarketCandle.get(
        (MarketCandle.seconds == 3600) & (MarketCandle.bucket_start == dt.datetime(2026, 3, 2, 23))
    )
    MarketCandle.update(volume=hour.volume + 1, close_price=D("9.9999")).where(
        MarketCandle.id == hour.id
    ).execute()
    MarketCandle.delete().where(MarketCandle.seconds == 900).execute()

    lines = stats.rebuild()

    assert [line.split(":")[0] for line in lines] == ["15 min candles", "1 h candles"]
    assert "9.9999" in lines[1]
    assert candles.differences() == []
    assert stats.rebuild() == []


def test_migration_fills_the_buckets_of_trades_made_before_it(monkeypatch, backend):
    trade_across_buckets(monkeypatch)
    kept = {s: candles.stored(s) for s in CANDLE_SIZES}
    MarketCandle.delete().execute()

    m0011_candle_buckets.up(backend.database)

    assert {s: candles.stored(s) for s in CANDLE_SIZES} == kept
    assert sum(b.trades for b in kept[86400].values()) == EnergyTrade.select().count()


def test_a_width_not_kept_is_still_computed_from_the_trades(monkeypatch):
    trade_across_buckets(monkeypatch)
    found = stats.candles(1800, dt.datetime(2026, 3, 2))
    assert [c.start.minute for c in found] == [0, 30, 0]
    assert sum(c.trades for c in found) == EnergyTrade.select().count()
