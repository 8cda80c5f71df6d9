"""A prosumer's trades and orders, newest first, read from their own indexes (issue 15,
migration 0010): the merge of both sides gives what a plain filter over all trades
gives, on every backend, and each backend's plan uses the indexes."""

from __future__ import annotations

import datetime as dt

import pytest

from energy_tui.db.models import EnergyTrade, db
from energy_tui.services.market import book as market_book
from energy_tui.services.market import invariants, reads
from energy_tui.services.market.book import TradeFilter
from tests.clock_support import freeze
from tests.market_support import place, trader

START = dt.datetime(2026, 3, 2, 9, 0)


@pytest.fixture(autouse=True)
def market(backend):
    yield backend
    assert invariants.check() == []


def three_traders(monkeypatch: pytest.MonkeyPatch) -> None:
    """a, b and c buy from and sell to each other, one trade a minute."""
    now = freeze(monkeypatch, START)
    actors = {name: trader(name, watt="1000", energy="100") for name in "abc"}
    pairs = [("a", "b"), ("b", "a"), ("c", "a"), ("b", "c"), ("a", "c"), ("c", "b")] * 3
    for i, (seller, buyer) in enumerate(pairs):
        now.advance(minutes=1)
        price = f"0.{1000 + i}"
        place(actors[seller], "sell", "1", price)
        place(actors[buyer], "buy", "1", price)


def expected(
    address: str | None, side: str | None, since=None, until=None, limit=100, before=None
) -> list[int]:
    """The seqs a plain scan of every trade finds, newest first."""
    rows = EnergyTrade.select().order_by(EnergyTrade.seq.desc())
    found = []
    for t in rows:
        mine = {"buy": t.buyer_address == address, "sell": t.seller_address == address}
        if address is not None and not (mine[side] if side else any(mine.values())):
            continue
        if before is not None and t.seq >= before:
            continue
        if (since and t.executed_at < since) or (until and t.executed_at >= until):
            continue
        found.append(t.seq)
    return found[:limit]


def test_a_prosumers_trades_are_both_sides_merged_newest_first_with_every_filter(monkeypatch):
    three_traders(monkeypatch)
    since, until = START + dt.timedelta(minutes=4), START + dt.timedelta(minutes=15)
    for side in (None, "buy", "sell"):
        for window in ((None, None), (since, None), (None, until), (since, until)):
            for limit in (3, 100):
                spec = TradeFilter("a", side, *window, limit)
                got = [t.seq for t in market_book.trades(spec)]
                assert got == expected("a", side, *window, limit), (side, window, limit)
    for address in ("a", None):  # a page after seq 11 (the API's before_seq)
        for side in (None, "buy") if address else (None,):
            spec = TradeFilter(address, side, since, None, 3, before_seq=11)
            got = [t.seq for t in market_book.trades(spec)]
            assert got == expected(address, side, since, None, 3, before=11)
    mine = market_book.trades(TradeFilter("a", limit=100))
    assert len(mine) == 12 and all(t.side_for("a") in ("buy", "sell") for t in mine)


PLAN_PREFIX = {"sqlite": "EXPLAIN QUERY PLAN ", "postgres": "EXPLAIN ", "mysql": "EXPLAIN "}


def plan(sql: str, params: tuple[object, ...]) -> str:
    backend = reads.backend()
    if backend == "postgres":  # a test table is tiny: ask whether the index can serve
        db.execute_sql("SET enable_seqscan = off")
    try:
        rows = db.execute_sql(PLAN_PREFIX[backend] + sql, params).fetchall()
    finally:
        if backend == "postgres":
            db.execute_sql("RESET enable_seqscan")
    return " ".join(str(value) for row in rows for value in row)


def test_the_history_reads_use_the_prosumer_indexes(monkeypatch):
    three_traders(monkeypatch)
    backend, p = reads.backend(), db.param
    both = reads.trades_statement(backend, "both", False, False, limit=50)
    trades_plan = plan(both, ("a", "a"))
    assert "energy_trades_buyer_address_seq_executed_at" in trades_plan
    assert "energy_trades_seller_address_seq_executed_at" in trades_plan
    open_plan = plan(
        f"SELECT id FROM energy_orders WHERE trader_address = {p} AND is_active = {p} "
        "ORDER BY placed_seq DESC",
        ("a", True),
    )
    assert "energy_orders_trader_address_" in open_plan  # (is_active, ...) or (placed_seq)
    all_plan = plan(
        f"SELECT id FROM energy_orders WHERE trader_address = {p} "
        "ORDER BY placed_seq DESC LIMIT 100",
        ("a",),
    )
    assert "energy_orders_trader_address_placed_seq" in all_plan
    filled_plan = plan(
        f"SELECT id FROM energy_orders WHERE trader_address = {p} AND status = {p} "
        "ORDER BY placed_seq DESC LIMIT 100",
        ("a", "filled"),
    )
    assert "energy_orders_trader_address_status_placed_seq" in filled_plan
