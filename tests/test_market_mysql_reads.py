"""MySQL/MariaDB placement: what it sends while it holds the market lock, and the
compact (JSON) form of the reads made under it giving the very values of the plain
reads (docs/scale.md, "MariaDB: the critical section")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from energy_tui.db.models import db
from energy_tui.errors import InsufficientFunds
from energy_tui.services.market import candles, invariants, orders, sql
from tests.clock_support import freeze
from tests.market_support import balances, place, set_rule, trader

D = Decimal
_IN_TRANSACTION = 1  # pymysql.constants.SERVER_STATUS.SERVER_STATUS_IN_TRANS


@pytest.fixture(autouse=True)
def mysql_only(backend):
    if backend.name != "mysql":
        pytest.skip("MySQL's placement path (PostgreSQL: a server function; SQLite: no trips)")
    yield backend
    assert invariants.check() == []


def _texts_sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the connection sends from now on (one round trip each)."""
    connection = db.connection()
    sent: list[str] = []
    query = connection.query

    def counted(text: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(text.decode() if isinstance(text, bytes) else str(text))
        return query(text, *args, **kwargs)

    monkeypatch.setattr(connection, "query", counted)
    return sent


def _under_lock(sent: list[str]) -> list[str]:
    """The texts from the one taking the market lock to the COMMIT, both included."""
    start = next(
        i for i, text in enumerate(sent) if "FROM market_state WHERE id = 1 FOR UPDATE" in text
    )
    end = next(i for i, text in enumerate(sent) if text.rstrip().endswith("COMMIT"))
    return sent[start : end + 1]


def test_a_trade_with_a_fee_holds_the_market_lock_across_three_round_trips(monkeypatch):
    set_rule("GRID_FEE_RATE", "0.05")  # the fee's receiver is a third account to read
    seller, buyer = trader("seller", energy="10"), trader("buyer", watt="100")
    place(seller, "sell", "1", "0.2000")
    place(buyer, "buy", "1", "0.2000")  # the fee's receiver and today's candles exist
    place(seller, "sell", "2", "0.2000")
    place(trader("other", energy="10"), "sell", "2", "0.2100")
    sent = _texts_sent(monkeypatch)

    result = place(buyer, "buy", "3", "0.2100")

    assert len(result.fills) == 2
    trips = _under_lock(sent)
    # the lock with the trader, makers, statistics and candles; the makers' owners and
    # the fee's receiver; every write and COMMIT (before: a fourth, the candles)
    assert len(trips) == 3, [t[:60] for t in trips]
    assert "market_candles" in trips[0] and "market_candles" not in trips[1]


def test_an_order_that_rests_holds_it_across_two(monkeypatch):
    buyer = trader("buyer", watt="100")
    sent = _texts_sent(monkeypatch)

    place(buyer, "buy", "1", "0.1000")

    assert len(_under_lock(sent)) == 2


def _same(compact: list[list[tuple[Any, ...]]], plain: list[list[tuple[Any, ...]]]) -> None:
    """Value by value, a Decimal with its places; a DATETIME read from its text."""
    assert len(compact) == len(plain)
    for compact_rows, plain_rows in zip(compact, plain, strict=True):
        assert len(compact_rows) == len(plain_rows)
        for c_row, p_row in zip(compact_rows, plain_rows, strict=True):
            assert len(c_row) == len(p_row)
            for c, p in zip(c_row, p_row, strict=True):
                if isinstance(p, dt.datetime):
                    assert candles.as_datetime(c) == p
                else:
                    assert type(c) is type(p) or (isinstance(p, int) and type(c) is int)
                    assert str(c) == str(p), (c, p)


@pytest.mark.parametrize(
    ("watt", "energy", "price", "amount", "bought"),
    [
        ("9999999999999.99", "9999999999999.99", "999999.9999", "5000000", "0.01"),
        ("1.00", "200.00", "0.0001", "200", "100"),
        ("123.40", "1000", "0.2000", "1000", "1"),
    ],
)
def test_compact_reads_give_every_value_the_plain_reads_give(
    monkeypatch, watt, energy, price, amount, bought
):
    freeze(monkeypatch, dt.datetime(2026, 12, 1, 6, 0, 0, 250000))
    set_rule("PRICE_BAND_PERCENT", "99999.99")  # the extremes may rest
    set_rule("MIN_ORDER_VALUE", "0.01")
    place(trader("Seller-X", energy=energy), "sell", amount, price)
    place(trader("buyer", watt=watt), "buy", bought, price)  # a trade: statistics, candles
    now = dt.datetime(2026, 12, 1, 6, 0, 0, 250000)
    queries = [
        (sql.statements().lock_state, (True,)),
        orders._trader_query("Seller-X", "buy", D(price)),
        orders._makers_query("buy", D(price)),
        (sql.statements().stats_row, (now.date(),)),
        candles.load_query(candles.keys_at(now)),
    ]
    with db.atomic():
        compact = sql.read_together(*queries, compact=True)
        plain = sql.read_together(*queries)
    assert all(plain[2:]), plain  # a maker, a statistics row and candles were read
    _same(compact, plain)


def test_begin_goes_with_the_market_locks_text_not_in_a_round_trip_of_its_own(monkeypatch):
    buyer = trader("buyer", watt="100")
    sent = _texts_sent(monkeypatch)

    place(buyer, "buy", "1", "0.1000")

    assert not [text for text in sent if text.strip().upper() == "BEGIN"], sent
    assert _under_lock(sent)[0].startswith("BEGIN;")


def test_a_refused_order_leaves_no_transaction_open_and_the_next_one_places(monkeypatch):
    seller = trader("seller", energy="1")
    before = balances("seller")
    sent = _texts_sent(monkeypatch)

    with pytest.raises(InsufficientFunds):
        place(seller, "sell", "5", "0.2000")

    assert sent[-1].strip().upper() == "ROLLBACK"  # BEGIN was sent with the lock's text
    assert not db.connection().server_status & _IN_TRANSACTION
    assert balances("seller") == before
    assert place(seller, "sell", "1", "0.2000").order.status == "open"
    assert not db.connection().server_status & _IN_TRANSACTION
