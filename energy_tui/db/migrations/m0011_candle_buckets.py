"""Candle buckets (issue 15): the table `market_candles` (OHLCV, count, first and last
trade seq per 15 min, 1 h and 1 day bucket), filled from the trades already there.
From then on each trade updates its buckets in its own transaction
(`services.market.candles`), and `stats rebuild` checks them."""

from __future__ import annotations

from peewee import Database

from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import MarketCandle


def up(database: Database) -> None:
    from energy_tui.services.market import candles  # the one recomputation, shared

    ensure_table(database, MarketCandle)
    candles.rebuild()
