"""The platform's other services insert rows naming only the seed note's columns
(migration 0016): every column we added has a database DEFAULT, and an order inserted
so queues by its arrival, on every backend."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import peewee
import pytest

from energy_tui.db.connect import open_database
from energy_tui.db.models import (
    CANDLE_SIZES,
    ApiKey,
    EnergyOrder,
    EnergyTrade,
    MarketState,
    MarketStatistics,
    Prosumer,
    User,
    db,
)
from energy_tui.db.urls import parse_url
from energy_tui.services.market import book as market_book
from energy_tui.services.market import candles, invariants, stats
from energy_tui.services.market.orders import cancel_all
from tests.market_support import place, set_rule, trader
from tests.test_platform_lock_order import run_together

D = Decimal


@pytest.fixture(autouse=True)
def market(backend):
    set_rule("GRID_IMPORT_PRICE", "0.1000")
    yield backend
    assert invariants.check() == []


def platform_insert(table: str, **values: object) -> None:
    """An INSERT as another service of the platform writes it: the named columns only."""
    columns = ", ".join(values)
    marks = ", ".join([db.param] * len(values))
    db.execute_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))


def test_an_order_inserted_with_the_note_columns_only_queues_behind_earlier_ones():
    early = place(trader("early", watt="5"), "buy", "1", "0.1000").order
    trader("platform", watt="5")
    platform_insert(
        "energy_orders",
        trader_address="platform",
        order_type="buy",
        energy_amount=D("1.00"),
        price_per_kwh=D("0.1000"),
    )
    late = place(trader("late", watt="5"), "buy", "1", "0.1000").order

    (raw,) = EnergyOrder.select().where(EnergyOrder.trader_address == "platform")
    assert (raw.kind, raw.status, raw.time_in_force, raw.is_active) == ("limit", "open", "gtc", 1)
    assert (raw.filled_amount, raw.watt_reserved) == (D("0.00"), D("0.00"))
    assert early.placed_seq < raw.seq == raw.placed_seq < late.placed_seq
    assert isinstance(raw.id, uuid.UUID) and raw.created_at is not None
    assert MarketState.get_by_id(1).open_buy_orders == 3

    refused = (peewee.IntegrityError, peewee.OperationalError)  # MySQL: "no default value"
    with pytest.raises(refused), db.atomic():  # the note requires a price
        platform_insert(
            "energy_orders", trader_address="platform", order_type="buy", energy_amount=D("1")
        )
    sold = place(trader("seller", energy="5"), "sell", "3", "0.1000")

    assert [f.buyer_address for f in sold.fills] == ["early", "platform", "late"]
    assert MarketState.get_by_id(1).open_buy_orders == 0


def test_users_keys_and_prosumers_inserted_with_the_note_columns_only_are_accepted():
    platform_insert("prosumers", address="platform-home", name="Platform home")
    platform_insert(
        "users", username="platform-user", email="p@example.org", password_hash="$2b$12$x"
    )
    user = User.get(User.username == "platform-user")
    platform_insert("api_keys", user_id=user.id.hex, name="platform", key_hash="0" * 64)

    home = Prosumer.get_by_id("platform-home")
    assert (home.watt_tokens, home.watt_reserved, home.energy_reserved) == (
        D("0.00"),
        D("0.00"),
        D("0.00"),
    )
    assert (user.role, user.is_active, user.failed_logins) == ("trader", 1, 0)
    key = ApiKey.get(ApiKey.name == "platform")
    assert (key.permissions, key.is_active) == (["read"], 1)


def test_a_sell_inserted_with_the_note_columns_only_holds_its_energy():
    """A platform's sell holds its kWh as ours do: cancelling it gives back only what it
    held (no energy made from nothing), and one beyond the seller's energy is refused
    (it would sell kWh its owner does not have)."""
    seller = trader("psell", energy="5")
    platform_insert(
        "energy_orders",
        trader_address="psell",
        order_type="sell",
        energy_amount=D("2.00"),
        price_per_kwh=D("0.1000"),
    )
    assert Prosumer.get_by_id("psell").energy_reserved == D("2.00")
    refused = (peewee.IntegrityError, peewee.OperationalError, peewee.InternalError)
    with pytest.raises(refused), db.atomic():
        platform_insert(
            "energy_orders",
            trader_address="psell",
            order_type="sell",
            energy_amount=D("4.00"),
            price_per_kwh=D("0.1000"),
        )
    assert Prosumer.get_by_id("psell").energy_reserved == D("2.00")
    assert MarketState.get_by_id(1).open_sell_orders == 1
    bought = place(trader("pbuy", watt="5"), "buy", "1", "0.1000")
    assert [f.seller_address for f in bought.fills] == ["psell"]
    cancel_all(seller)
    assert Prosumer.get_by_id("psell").energy_reserved == D("0.00")


def test_a_buy_inserted_with_a_hold_holds_it_from_its_owner():
    """A buy inserted naming our watt_reserved holds that WATT from its owner, or is
    refused: cancelling it never releases WATT that was never held (money from nothing)."""
    buyer = trader("phold", watt="5")
    platform_insert(
        "energy_orders",
        trader_address="phold",
        order_type="buy",
        energy_amount=D("2.00"),
        price_per_kwh=D("1.0000"),
        watt_reserved=D("3.00"),
    )
    assert Prosumer.get_by_id("phold").watt_reserved == D("3.00")
    refused = (peewee.IntegrityError, peewee.OperationalError, peewee.InternalError)
    with pytest.raises(refused), db.atomic():
        platform_insert(
            "energy_orders",
            trader_address="phold",
            order_type="buy",
            energy_amount=D("3.00"),
            price_per_kwh=D("1.0000"),
            watt_reserved=D("3.00"),
        )
    cancel_all(buyer)
    assert Prosumer.get_by_id("phold").watt_reserved == D("0.00")


@pytest.mark.parametrize(
    "bad",
    [
        {"order_type": "sell", "energy_amount": D("-1.00")},
        {"order_type": "buy", "energy_amount": D("-1.00")},
        {"order_type": "buy", "price_per_kwh": D("0.0000")},
        {"order_type": "sell", "filled_amount": D("3.00")},
        {"order_type": "sell", "filled_amount": D("-1.00")},
    ],
)
def test_an_inserted_order_that_cannot_trade_as_written_is_refused(bad):
    """A negative or zero amount, a price of 0, a fill beyond the amount or below 0 would
    trade money and energy backwards (or release kWh never held): refused, nothing
    changed."""
    trader("pbad", watt="5", energy="5")
    values = {"energy_amount": D("1.00"), "price_per_kwh": D("0.1000"), **bad}
    refused = (peewee.IntegrityError, peewee.OperationalError, peewee.InternalError)
    with pytest.raises(refused), db.atomic():
        platform_insert("energy_orders", trader_address="pbad", **values)
    assert EnergyOrder.select().count() == 0
    home = Prosumer.get_by_id("pbad")
    assert (home.watt_reserved, home.energy_reserved) == (D("0.00"), D("0.00"))


def platform_settles(buyer: str, seller: str, amount: Decimal, total: Decimal) -> None:
    """What the service inserting a trade does besides: it moves the balances."""
    p = db.param
    db.execute_sql(
        f"UPDATE prosumers SET watt_tokens = watt_tokens - {p}, "
        f"energy_bought = energy_bought + {p} WHERE address = {p}",
        (total, amount, buyer),
    )
    db.execute_sql(
        f"UPDATE prosumers SET watt_tokens = watt_tokens + {p}, "
        f"energy_sold = energy_sold + {p} WHERE address = {p}",
        (total, amount, seller),
    )


def test_a_trade_inserted_with_the_note_columns_only_takes_the_markets_next_trade_seq():
    """A trade another service inserts goes on the tape after every trade before it and
    before every later one, is the market's last trade until the next, and moves the
    change marker; the buyer paid its total (migration 0024). It had seq 0: first on
    the tape, never the last price."""
    set_rule("GRID_FEE_RATE", "0")  # the platform's trade names no fee
    seller, buyer = trader("tsell", energy="5"), trader("tbuy", watt="5")
    place(seller, "sell", "1", "0.1000")
    (first,) = place(buyer, "buy", "1", "0.1000").fills
    version = market_book.version()
    with db.atomic():
        platform_insert(
            "energy_trades",
            buyer_address="tbuy",
            seller_address="tsell",
            energy_amount=D("1.00"),
            price_per_kwh=D("0.2000"),
            total_price=D("0.20"),
        )
        platform_settles("tbuy", "tsell", D("1.00"), D("0.20"))

    (raw,) = EnergyTrade.select().where(EnergyTrade.price_per_kwh == D("0.2000"))
    assert raw.seq == first.seq + 1 == MarketState.get_by_id(1).trade_seq
    assert (raw.fee, raw.buyer_total) == (D("0.00"), D("0.20"))
    assert market_book.version() > version
    assert [t.seq for t in market_book.trades()] == [raw.seq, first.seq]
    assert (market_book.book().last_price, market_book.book().previous_price) == (
        D("0.2000"),
        D("0.1000"),
    )
    place(seller, "sell", "1", "0.3000")
    (later,) = place(buyer, "buy", "1", "0.3000").fills
    assert later.seq == raw.seq + 1
    assert [t.seq for t in market_book.trades()] == [later.seq, raw.seq, first.seq]


def stored_figures() -> tuple[list[tuple[Any, ...]], dict[int, dict[dt.datetime, candles.Bucket]]]:
    """The daily rows' trade columns and every candle bucket, as the screens read them."""
    days = [
        (r.date, r.total_trades, r.total_volume, r.notional, r.average_price,
         r.highest_price, r.lowest_price, r.active_buy_orders, r.active_sell_orders)
        for r in MarketStatistics.select().order_by(MarketStatistics.date)
    ]  # fmt: skip
    return days, {seconds: candles.stored(seconds) for seconds in CANDLE_SIZES}


def test_trades_inserted_by_the_platform_count_in_the_statistics_and_candles_at_once():
    """A trade another service inserts is added to its day's statistics and its candle
    buckets in the same statement (migration 0029), exactly as `stats rebuild` would
    recompute them from the trades: no rebuild needed for the screens to agree with
    the trades list. Before, the day still showed our one trade."""
    set_rule("GRID_FEE_RATE", "0")
    seller, buyer = trader("tsell", energy="10"), trader("tbuy", watt="10")
    place(seller, "sell", "1", "0.1000")
    (ours,) = place(buyer, "buy", "1", "0.1000").fills
    today = ours.executed_at.date()
    earlier = "2020-01-01 10:07:30"
    trades = (  # today's VWAP (0.2001 / 2) is a tie: 0.1000 half-even, never 0.1001
        (D("1.00"), D("0.1001"), D("0.10"), None),
        (D("2.50"), D("0.3000"), D("0.75"), earlier),  # a day with no row yet
        (D("0.50"), D("0.2500"), D("0.12"), "2020-01-01 10:05:00"),  # same buckets, later seq
    )
    for amount, price, total, at in trades:
        with db.atomic():
            named = {"executed_at": at} if at else {}
            platform_insert(
                "energy_trades",
                buyer_address="tbuy",
                seller_address="tsell",
                energy_amount=amount,
                price_per_kwh=price,
                total_price=total,
                **named,
            )
            platform_settles("tbuy", "tsell", amount, total)

    day = MarketStatistics.get(MarketStatistics.date == today)
    assert (day.total_trades, day.total_volume, day.notional) == (2, D("2.00"), D("0.200100"))
    assert (day.average_price, day.highest_price, day.lowest_price) == (
        D("0.1000"),
        D("0.1001"),
        D("0.1000"),
    )
    old = MarketStatistics.get(MarketStatistics.date == dt.date(2020, 1, 1))
    assert (old.total_trades, old.total_volume, old.average_price) == (2, D("3.00"), D("0.2917"))
    (quarter,) = stats.candles(900, dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2))
    assert (quarter.open, quarter.high, quarter.low, quarter.close) == (
        D("0.3000"),
        D("0.3000"),
        D("0.2500"),
        D("0.2500"),
    )
    assert (quarter.volume, quarter.trades) == (D("3.00"), 2)
    before = stored_figures()
    assert stats.rebuild() == []  # nothing disagreed with the trades
    assert stored_figures() == before


def test_a_platform_trade_in_a_repeatable_read_transaction_loses_no_statistics(backend):
    """MySQL's default isolation: the inserting session's snapshot predates a trade of
    ours; its trigger still adds to the day's latest figures (a locking read), never
    writes the snapshot's back over ours."""
    if backend.name != "mysql":
        pytest.skip("PostgreSQL and SQLite refuse such a write instead of losing one")
    set_rule("GRID_FEE_RATE", "0")
    seller, buyer = trader("tsell", energy="10"), trader("tbuy", watt="10")
    place(seller, "sell", "1", "0.1000")
    place(buyer, "buy", "1", "0.1000")
    platform = open_database(parse_url(backend.url), pool_size=1, timeout=10)
    try:
        with platform.connection_context():
            platform.execute_sql("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            with platform.atomic():
                platform.execute_sql("SELECT total_trades FROM market_statistics").fetchall()
                place(seller, "sell", "1", "0.1000")  # ours, committed meanwhile
                place(buyer, "buy", "1", "0.1000")
                platform.execute_sql(
                    "INSERT INTO energy_trades (buyer_address, seller_address, energy_amount, "
                    "price_per_kwh, total_price) VALUES ('tbuy', 'tsell', 1.00, 0.2000, 0.20)"
                )
                platform_settles_on(platform, "tbuy", "tsell", D("1.00"), D("0.20"))
    finally:
        platform.close_all()
    assert MarketStatistics.get().total_trades == 3
    assert stats.rebuild() == []


def platform_settles_on(database: peewee.Database, *args: Any) -> None:
    bound = db.obj
    db.initialize(database)
    try:
        platform_settles(*args)
    finally:
        db.initialize(bound)


def test_platform_trades_and_our_placements_at_once_keep_the_statistics_exact(backend):
    """Trades inserted by another service while we place orders that trade, round by
    round in two threads: the day's figures and every bucket still equal a recomputation
    from the trades (the trigger and a placement both hold the market row)."""
    set_rule("GRID_FEE_RATE", "0")
    seller, buyer = trader("tsell", energy="100"), trader("tbuy", watt="100")
    rounds = 30

    def platform_trade(n: int) -> None:
        price = D("0.2000") + D(n).scaleb(-4)
        with db.atomic():
            platform_insert(
                "energy_trades",
                buyer_address="tbuy",
                seller_address="tsell",
                energy_amount=D("0.50"),
                price_per_kwh=price,
                total_price=(price / 2).quantize(D("0.01")),
            )
            platform_settles("tbuy", "tsell", D("0.50"), (price / 2).quantize(D("0.01")))

    def our_trade(_: int) -> None:
        place(seller, "sell", "1", "0.1000")
        assert len(place(buyer, "buy", "1", "0.1000").fills) == 1

    assert run_together(backend.database, rounds, platform_trade, our_trade) == []
    assert EnergyTrade.select().count() == 2 * rounds
    assert sum(day.total_trades for day in MarketStatistics.select()) == 2 * rounds
    assert stats.rebuild() == []
