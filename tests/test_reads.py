"""The hot reads' shortcuts (issue 15) make the very values the slow way makes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import sqlite3
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy_tui import clock
from energy_tui.db.models import EnergyOrder, EnergyTrade, MarketStatistics, Prosumer
from energy_tui.errors import NotFound
from energy_tui.services import prosumers
from energy_tui.services.market import book, reads, stats
from energy_tui.services.market.book import TradeFilter, TradeView
from energy_tui.services.market.views import OrderView


@pytest.mark.parametrize("made", [uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)])
def test_a_uuid_from_its_32_hex_digits_is_the_uuid_parsed(made: uuid.UUID) -> None:
    fast = reads._uuid(made.hex)
    assert fast == made and hash(fast) == hash(made) and str(fast) == str(made)
    assert fast.version == made.version and fast.is_safe == uuid.SafeUUID.unknown
    assert reads._uuid(str(made)) == made  # the dashed form: parsed as before
    with pytest.raises(ValueError):
        reads._uuid("z" * 32)


def test_a_trade_view_filled_in_directly_equals_one_built_and_stays_frozen() -> None:
    values: list[Any] = [
        uuid.uuid4(),
        7,
        dt.datetime(2026, 1, 2, 3, 4, 5),
        Decimal("1.25"),
        Decimal("0.2100"),
        Decimal("0.26"),
        Decimal("0.01"),
        Decimal("0.27"),
        "buyer",
        "seller",
        "buy",
        uuid.uuid4(),
        None,
    ]
    view = TradeView.of_values(values)
    assert view == TradeView(*values) and hash(view) == hash(TradeView(*values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.price = Decimal(1)  # type: ignore[misc]
    with pytest.raises(ValueError):
        TradeView.of_values(values[:-1])  # a column short: refused, not half filled


def test_sqlite_reads_convert_only_the_columns_that_need_it() -> None:
    row: tuple[Any, ...] = ("ab" * 16, 3, "2026-01-02 03:04:05", 1.1, 0.21, 0.23, 0.01, 0.24)
    rows = [(*row, "b", "s", "buy", None, "cd" * 16)]
    [converted] = reads.convert_rows(rows, reads.trade_converters("sqlite"))
    assert [str(v) for v in converted[3:8]] == ["1.10", "0.2100", "0.23", "0.01", "0.24"]
    assert converted[2] == dt.datetime(2026, 1, 2, 3, 4, 5)
    assert converted[0] == uuid.UUID("ab" * 16) and converted[-1] == uuid.UUID("cd" * 16)
    assert converted[1] == 3 and converted[8:12] == ["b", "s", "buy", None]


D = Decimal


# --- exact decimals from SQLite's REALs, and rows made once (issue 15) ---------------

# (digits, places) of the decimal columns: DECIMAL(15,2) kWh and WATT, DECIMAL(10,4)
# prices, and the notional's DECIMAL(24,6) as far as a REAL holds it (15 digits)
SCALES = {"kwh, watt": (15, 2), "price": (10, 4), "notional": (15, 6)}
_SQLITE = sqlite3.connect(":memory:")
_SQLITE.execute("CREATE TABLE v (x DECIMAL(15, 2))")  # NUMERIC affinity, as our columns


def stored_in_sqlite(value: Decimal) -> Any:
    """What SQLite hands back for `value` written as the models write it (its text,
    Peewee's adapter: SQLite turns it into a REAL, or an INTEGER when whole)."""
    _SQLITE.execute("DELETE FROM v")
    _SQLITE.execute("INSERT INTO v VALUES (?)", (str(value),))
    ((stored,),) = _SQLITE.execute("SELECT x FROM v").fetchall()
    return stored


def units(digits: int, places: int) -> st.SearchStrategy[Decimal]:
    """Every decimal of DECIMAL(digits, places): a whole number of its last place,
    up to the most digits, both signs (hypothesis favours the ends: 0, 1, the top)."""
    top = 10**digits - 1
    return st.integers(-top, top).map(lambda n: Decimal(n).scaleb(-places))


@pytest.mark.parametrize("scale", SCALES.values(), ids=SCALES.keys())
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_real_read_back_from_sqlite_makes_exactly_the_decimal_written(
    scale: tuple[int, int], data: st.DataObject
) -> None:
    digits, places = scale
    written = data.draw(units(digits, places), label="written")
    drift = data.draw(st.integers(-4, 4), label="ulps")  # as a sum in SQL may leave it
    stored = stored_in_sqlite(written)
    reads.forget()  # the conversion itself, not a kept value
    fast = reads._exact(places)(stored)
    assert fast == written and str(fast) == str(written)  # the value and its places
    plain = Decimal(str(stored)).quantize(Decimal(1).scaleb(-places))  # the models' way
    assert fast == plain and str(fast) == str(plain or abs(plain))
    assert reads._exact(places)(stored) is fast  # kept: made once
    near = float(stored)
    for _ in range(abs(drift)):
        near = math.nextafter(near, math.inf if drift > 0 else -math.inf)
    if abs(near - float(stored)) < 0.4 * 10**-places:  # nearer the decimal than the next
        reads.forget()
        assert str(reads._exact(places)(near)) == str(written)


@pytest.mark.parametrize("places", [2, 4, 6])
def test_equal_driver_values_make_one_decimal_whatever_their_type(places: int) -> None:
    reads.forget()
    convert = reads._exact(places)
    zero = Decimal(0).scaleb(-places)
    for value in (0, 0.0, -0.0):
        reads.forget()
        assert str(convert(value)) == str(zero)  # never -0.00, whichever comes first
    reads.forget()
    assert str(convert(10)) == str(convert(10.0)) == str(Decimal(10).quantize(zero))
    assert convert(None) is None


def test_a_row_read_again_is_the_view_made_before_and_a_changed_row_is_made_anew() -> None:
    made_calls: list[Any] = []

    def make(row: Any) -> tuple[Any, ...]:
        made_calls.append(row)
        return (reads._exact(2)(row[1]),)

    made = reads.Made(make, limit=8)
    first = made([("a", 1.5), ("b", 2.25)])
    again = made([("b", 2.25), ("a", 1.5)])
    assert [str(v[0]) for v in first] == ["1.50", "2.25"] and len(made_calls) == 2
    assert again[0] is first[1] and again[1] is first[0]  # looked up, not made
    changed = made([("a", 1.75), ("b", 2.25)])
    assert str(changed[0][0]) == "1.75" and changed[1] is first[1] and len(made_calls) == 3
    assert made([("a", 2)])[0] is made([("a", 2.0)])[0]  # equal rows: one value
    assert len(made.kept) == 4
    made([("c", 1.0), ("d", 1.0)])
    made([("e", 1.0), ("f", 1.0)])
    assert len(made.kept) == 8  # the limit
    made([("g", 1.0), ("h", 1.0)])  # past it: all dropped, these kept
    assert set(made.kept) == {("g", 1.0), ("h", 1.0)}
    many = [("i", 1.0), ("j", 1.0), ("k", 1.0)]  # more than limit // 4 rows: not kept
    assert [str(v[0]) for v in made(many)] == ["1.00"] * 3
    assert not any(row in made.kept for row in many)
    reads.forget()
    assert not made.kept


def insert_trade(seq: int, amount: Decimal, price: Decimal, total: Decimal) -> None:
    EnergyTrade.insert(
        id=uuid.uuid4(),
        buyer_address="buyer",
        seller_address="seller",
        energy_amount=amount,
        price_per_kwh=price,
        total_price=total,
        executed_at=dt.datetime(2026, 1, 2, 3, 4, 5, 123456) + dt.timedelta(seconds=seq),
        fee=Decimal("0.01"),
        buyer_total=total,
        taker_side="buy",
        seq=seq,
    ).execute()


def model_trades() -> list[TradeView]:
    """The tape read the slow, plain way: model instances, each field's python_value."""
    newest = EnergyTrade.select().order_by(EnergyTrade.seq.desc())
    return [TradeView.of(t) for t in newest]


def model_days(since: dt.date) -> list[stats.DayStats]:
    m = MarketStatistics
    rows = m.select().where(m.date >= since).order_by(m.date)
    return [
        stats.DayStats(
            r.date,
            r.total_trades,
            r.total_volume,
            r.notional,
            r.average_price,
            r.highest_price,
            r.lowest_price,
            r.active_buy_orders,
            r.active_sell_orders,
        )
        for r in rows
    ]


def same(a: list[Any], b: list[Any]) -> bool:
    """Equal, and every Decimal with the same places (str: 1.10 is not 1.1)."""
    return a == b and [list(map(str, x)) for x in map(_values, a)] == [
        list(map(str, x)) for x in map(_values, b)
    ]


def _values(view: Any) -> tuple[Any, ...]:
    return tuple(view) if isinstance(view, tuple) else dataclasses.astuple(view)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    amount=units(15, 2).filter(lambda d: d > 0),
    price=units(10, 4).filter(lambda d: d > 0),
    volume=units(15, 2),
    notional=units(15, 6),
)
def test_the_tape_and_the_statistics_read_what_the_models_read_on_every_backend(
    backend: Any, amount: Decimal, price: Decimal, volume: Decimal, notional: Decimal
) -> None:
    """The fast reads (rows kept by their raw values, SQLite's REALs made exact) equal
    the models' plain reads at the schema's extremes, on each backend: read first,
    read again (kept), after a change (made anew), and with nothing kept."""
    EnergyTrade.delete().execute()
    MarketStatistics.delete().execute()
    insert_trade(1, amount, price, amount)
    insert_trade(2, Decimal("0.01"), Decimal("0.0001"), Decimal("0.01"))
    day = dt.date(2026, 1, 2)
    MarketStatistics.insert(
        date=day,
        total_trades=2,
        total_volume=volume,
        notional=notional,
        average_price=price,
        highest_price=price,
        lowest_price=Decimal("0.0001"),
        active_buy_orders=1,
        active_sell_orders=0,
        created_at=dt.datetime(2026, 1, 2),
    ).execute()
    tape = book.trades(TradeFilter(limit=50))
    days = stats.daily(3, day)
    assert same(tape, model_trades()) and same(days, model_days(day - dt.timedelta(days=2)))
    kept = backend.name == "sqlite"  # the servers' rows are made each time (Made.keep)
    again = book.trades(TradeFilter(limit=50))
    assert same(again, tape) and all((a is b) == kept for a, b in zip(again, tape, strict=True))
    again_days = stats.daily(3, day)
    assert same(again_days, days)
    assert all((a is b) == kept for a, b in zip(again_days, days, strict=True))

    EnergyTrade.update(fee=Decimal("0.02")).where(EnergyTrade.seq == 2).execute()
    MarketStatistics.update(total_trades=3, total_volume=-volume).execute()
    changed = book.trades(TradeFilter(limit=50))
    assert changed[0].fee == Decimal("0.02") and same(changed, model_trades())
    assert (changed[1] is tape[1]) == kept  # the trade not changed: as kept
    assert same(stats.daily(3, day), model_days(day))
    assert stats.daily(3, day)[0].total_volume == -volume

    reads.forget()
    assert same(book.trades(TradeFilter(limit=50)), model_trades())
    assert same(stats.daily(3, day), model_days(day))


def model_open_orders(address: str, now: dt.datetime) -> list[Any]:
    """A trader's open orders read the plain way: model instances."""
    o = EnergyOrder
    rows = o.select().where(
        o.is_active
        & (o.trader_address == address)
        & (o.expires_at.is_null() | (o.expires_at > now))
    )
    return [OrderView.of(row) for row in rows.order_by(o.placed_seq.desc())]


def insert_order(seq: int, amount: Decimal, price: Decimal, expires: dt.datetime | None) -> None:
    EnergyOrder.insert(
        id=uuid.uuid4(),
        trader_address="p1",
        order_type="buy" if seq % 2 else "sell",
        energy_amount=amount,
        price_per_kwh=price,
        filled_amount=Decimal("0.01"),
        status="partially_filled",
        expires_at=expires,
        watt_reserved=amount,
        seq=seq,
        placed_seq=seq,
    ).execute()


@pytest.mark.parametrize(
    ("amount", "price"),
    [
        (D("9999999999999.99"), D("999999.9999")),
        (D("0.01"), D("0.0001")),
        (D("10.00"), D("0.2100")),
    ],
)
def test_open_orders_and_balances_read_what_the_models_read_on_every_backend(
    backend: Any, amount: Decimal, price: Decimal
) -> None:
    """The order book screen's reads of my open orders (rows kept by their raw values
    on SQLite) and of my balances (a fixed statement) equal the models' plain reads at
    the schema's extremes: read first, again, after a change, with nothing kept."""
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    with clock.frozen(now):
        Prosumer.insert(
            address="p1",
            name="P 1",
            watt_tokens=amount,
            watt_reserved=D("0.01"),
            energy_generated=amount,
            energy_consumed=D("0.00"),
            energy_bought=D("0.10"),
            energy_sold=D("0.00"),
            energy_reserved=amount,
            grid_tokens=D("-0.01"),
        ).execute()
        insert_order(1, amount, price, None)
        insert_order(2, D("0.02"), D("0.0001"), now + dt.timedelta(seconds=1))
        insert_order(3, D("1.00"), price, now)  # expired at now, not yet swept: not read
        first = book.open_orders("p1")
        assert same(first, model_open_orders("p1", now)) and len(first) == 2
        kept = backend.name == "sqlite"
        again = book.open_orders("p1")
        assert same(again, first) and all(
            (a is b) == kept for a, b in zip(again, first, strict=True)
        )
        EnergyOrder.update(filled_amount=D("0.02")).where(EnergyOrder.seq == 2).execute()
        changed = book.open_orders("p1")
        assert changed[0].filled == D("0.02") and same(changed, model_open_orders("p1", now))
        assert (changed[1] is first[1]) == kept  # the order not changed: as kept
        reads.forget()
        assert same(book.open_orders("p1"), model_open_orders("p1", now))

        read = prosumers.balances("P1")  # any case, as the address is typed
        assert same([read], [prosumers.Balances.of(Prosumer.get_by_id("p1"))])
        assert str(read.watt_total) == str(amount) and str(read.grid_tokens) == "-0.01"
        with pytest.raises(NotFound):
            prosumers.balances("p2")
