"""PostgreSQL's placement function obeys the same rules as the Python matcher (issue 13).

The same random sequence (orders of every type and side at prices and amounts on the
rules' edges, cancels, amendments, cancel-alls, clock jumps past expiries, sweeps,
under random fee rates, minimum values and price bands) runs twice on two fresh
PostgreSQL databases: once through the Python path (`server.ENABLED = False`) and once
through `energy_tui_place_order`. Both must answer every step alike (the same result
or the same refusal, message included) and end with the same rows: orders, trades,
balances, holds, statistics, candles, the market's counters and the audit trail.

Both sides run on PostgreSQL so that the storage (NUMERIC columns, timestamps) is the
same and only the two implementations differ; SQLite against the function would mix
in a backend's own differences. Order ids are compared by their placement sequence
(the Python path draws new UUIDs for trades, the server its own). Placement, cancel,
cancel-all, the sweep and amendments run on the server; since migration 0019 also the
app's own market orders (at the default cap the user was shown, `shown_cap`),
cancel-alls (bounded by the newest order the user saw, `up_to_placed_seq`) and the
fat-finger guard's judgement of an unconfirmed amendment (its figures compared too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import peewee
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from energy_tui import clock
from energy_tui.db import migrations
from energy_tui.db.models import db
from energy_tui.errors import EnergyError
from energy_tui.services.context import Actor
from energy_tui.services.market import (
    amend_order,
    cancel_all,
    cancel_order,
    guard,
    invariants,
    place_order,
    rules,
    server,
    sweep_expired,
)
from energy_tui.services.market.orders import OrderRequest, default_cap
from tests import backends
from tests.clock_support import START
from tests.market_support import trader

TRADERS = ("ann", "bob", "cy")
AMOUNTS = ["0.01", "0.05", "0.13", "0.99", "1.00", "1.25", "1.35", "5.00", "7.77"]
PRICES = ["0.0001", "0.0099", "0.0999", "0.1000", "0.1001", "0.1234", "0.3333", "1.0000"]
WATT = ["0.05", "0.50", "3.00", "40.00"]
ENERGY = ["0.50", "3.00", "20.00"]


@pytest.fixture(scope="module")
def two_databases() -> Iterator[tuple[peewee.Database, peewee.Database]]:
    base = backends.server_url_or_skip("postgres")
    names = [f"energy_tui_diff_{os.getpid()}_{side}" for side in ("py", "fn")]
    bound = []
    for name in names:
        database = backends.bind(backends.create_private_database(base, name))
        with database.connection_context():
            migrations.migrate(database)
        bound.append(database)
    yield bound[0], bound[1]
    for database, name in zip(bound, names, strict=True):
        database.close_all()
        backends.drop_private_database(base, name)


class StatementLog:
    """The SQL texts a database runs through `execute_sql` (`function_db` below)."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    @contextlib.contextmanager
    def during(self) -> Iterator[list[str]]:
        """The statements run inside the block, in a list filled when it ends (put a
        `pytest.raises` inside the block, so that the block ends normally)."""
        start = len(self.texts)
        ran: list[str] = []
        yield ran
        ran.extend(self.texts[start:])


@pytest.fixture
def function_db(
    two_databases: tuple[peewee.Database, peewee.Database], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[peewee.Database, StatementLog]]:
    """The database of the server functions, bound and emptied, its statements logged."""
    _, database = two_databases
    monkeypatch.setattr(server, "ENABLED", True)
    db.initialize(database)
    log = StatementLog()
    execute = database.execute_sql

    def logged(sql: str, *args: Any, **kwargs: Any) -> Any:
        log.texts.append(sql)
        return execute(sql, *args, **kwargs)

    monkeypatch.setattr(database, "execute_sql", logged)
    with database.connection_context():
        backends.empty_tables(database, "postgres")
        yield database, log


AROUND = ["0.0999", "0.1000", "0.1001", "0.1234"]  # where buys and sells cross
order_step = st.tuples(
    st.just("place"),
    st.sampled_from(TRADERS),
    st.sampled_from(["buy", "sell"]),
    st.one_of(st.sampled_from(["1.00", "1.25", "1.35", "5.00"]), st.sampled_from(AMOUNTS)),
    st.one_of(st.sampled_from(AROUND), st.sampled_from([*PRICES, None])),
    st.sampled_from(["gtc", "gtc", "gtc", "ioc", "fok"]),
    # a market order (the price its cap; None: default), or one at the cap the user was
    # shown ("shown": that price, or with None the default cap read before placing)
    st.sampled_from([False, False, True, "shown"]),
    st.sampled_from([None, None, 30, 90]),  # minutes to live
)
other_step = st.one_of(
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(
        st.just("amend"),
        st.integers(0, 30),
        st.sampled_from([None, *AROUND, *PRICES]),
        st.sampled_from([None, *AMOUNTS]),
        st.sampled_from([None, None, "seen", "stale"]),  # the (price, amount) the view showed
        st.sampled_from([True, True, False]),  # confirmed (False: the guard may judge it)
    ),
    st.tuples(
        st.just("cancel_all"),
        st.sampled_from(TRADERS),
        st.sampled_from([None, "buy"]),
        st.sampled_from([None, None, 0, 1, 3]),  # bounded: the newest placed_seq less this
    ),
    st.tuples(st.just("jump"), st.sampled_from([5, 31, 61, 24 * 60 + 1])),
    st.tuples(st.just("sweep")),
)
# mostly orders, each maybe followed by another kind of step
steps = st.lists(
    st.tuples(order_step, st.one_of(st.none(), st.none(), other_step)), min_size=6, max_size=16
).map(lambda pairs: [step for pair in pairs for step in pair if step is not None])
scenario = st.fixed_dictionaries(
    {
        "fee": st.sampled_from(["0.0500", "0", "0.0333", "0.2000"]),
        "minimum": st.sampled_from(["0.01", "0.05"]),
        "band": st.sampled_from(["20.00", "0", "12.50"]),
        "ttl": st.sampled_from([24, 1, 0]),
        # the fee receiver: the default, or a trader named in another case
        "grid": st.sampled_from([None, None, "BOB"]),
        "wallets": st.lists(
            st.tuples(st.sampled_from(WATT[::-1]), st.sampled_from(ENERGY[::-1])),
            min_size=3,
            max_size=3,
        ),
        "steps": steps,
    }
)


def _order(name: str, side: str, amount: str, price: str | None, tif: str = "gtc", **more: Any):
    market, minutes = more.get("market", False), more.get("minutes")
    return ("place", name, side, amount, price, tif, market, minutes)


# Every path once, whatever hypothesis draws: resting, partial and full fills on both
# sides, a maker that cannot pay its cent, IOC, FOK filled and killed, market orders
# with and without a cap, expiry on the way, an amendment that trades, a cancel-all.
EVERY_PATH: dict[str, Any] = {
    "minimum": "0.01",
    "band": "20.00",
    "ttl": 1,
    "wallets": [("0.50", "20.00"), ("40.00", "20.00"), ("3.00", "0.50")],
    "steps": [
        _order("ann", "buy", "1.25", "0.1000"),  # rests; ann can hardly pay more
        _order("bob", "sell", "0.99", "0.1000"),  # partial fill of ann's buy
        _order("bob", "sell", "5.00", "0.0999"),  # fills ann's rest; rests
        _order("cy", "buy", "1.35", "0.1234", "ioc"),
        _order("cy", "buy", "7.77", "0.1001", "fok"),  # killed
        _order("cy", "buy", "0.13", None, "ioc", market=True),  # default cap
        _order("ann", "sell", "3.00", "0.1234", minutes=30),
        ("jump", 31),
        _order("cy", "buy", "1.00", "0.3333", "fok"),  # ann's sell expired on the way
        _order("bob", "buy", "1.35", "0.0999", minutes=90),
        _order("ann", "sell", "7.77", "0.0999", "ioc", market=True),
        _order("ann", "buy", "5.00", "0.0999"),
        ("amend", 11, "0.1234", None),
        _order("cy", "sell", "0.50", "0.0001", "gtc", market=True),
        ("cancel_all", "bob", None),
        ("jump", 61),
        ("sweep",),
        _order("bob", "buy", "1.00", "1.0000", "fok"),
    ],
}

# A buyer on the book that cannot pay its rounding cent, a capped market buy held out
# by per-trade fees, a buy sweeping three levels, a market sell at the default cap.
CENTS: dict[str, Any] = {
    "minimum": "0.01",
    "band": "20.00",
    "ttl": 24,
    "wallets": [("0.04", "0.50"), ("40.00", "20.00"), ("3.00", "20.00")],
    "steps": [
        _order("ann", "buy", "0.30", "0.1000"),  # holds 0.04: three fills cost 0.06
        _order("bob", "sell", "0.10", "0.1000"),
        _order("bob", "sell", "0.10", "0.1000"),
        _order("cy", "sell", "0.10", "0.1000"),  # ann cannot pay: cancelled; cy's rests
        _order("cy", "sell", "0.10", "0.1000"),
        _order("cy", "sell", "0.10", "0.1000"),
        _order("bob", "buy", "0.30", "0.1000", "ioc", market=True),  # held out
        _order("bob", "buy", "0.30", "0.1000", "fok", market=True),  # killed
        _order("cy", "sell", "1.00", "0.1234"),
        _order("cy", "sell", "1.00", "0.1100"),
        _order("bob", "buy", "2.50", "0.2000"),  # three levels, rests
        _order("ann", "sell", "0.40", None, "ioc", market=True),  # default cap
        _order("bob", "buy", "0.50", "0.1300", "fok"),
        ("cancel", 10),  # bob's partly filled buy
        ("cancel", 10),  # refused: already cancelled
        ("cancel_all", "cy", "buy"),  # none
        _order("cy", "sell", "0.50", "0.3333", minutes=30),
        ("jump", 31),
        ("sweep",),
    ],
}

# Amendments on the server (migration 0017): a partly filled buy shrunk (keeps its seq,
# its hold cut exactly), refused down to what filled, refused once filled or cancelled,
# a sell moved across the book trading at the maker's price, a larger amount and a new
# price (both lose priority), a stale view, a sell beyond what is available, a buy
# beyond the WATT available, one crossing its owner's own sell, unconfirmed ones (the
# guard's, judged by the function since migration 0019).
AMENDS: dict[str, Any] = {
    "minimum": "0.01",
    "band": "20.00",
    "ttl": 24,
    "wallets": [("5.00", "20.00"), ("40.00", "20.00"), ("3.00", "3.00")],
    "steps": [
        _order("ann", "buy", "5.00", "0.1000"),  # 0
        _order("bob", "sell", "1.00", "0.1000"),  # 1: fills 1.00 of ann's buy
        ("amend", 0, None, "3.00"),  # a partly filled buy shrinks: keeps its seq
        ("amend", 0, None, "0.99"),  # refused: below what filled
        ("amend", 0, None, "1.00"),  # refused: down to what filled
        ("amend", 1, "0.2000", None),  # refused: filled
        _order("cy", "sell", "2.50", "0.1234"),  # 2
        ("amend", 2, "0.1000", None),  # crosses ann's buy: trades 2.00 at 0.1000, rests
        _order("bob", "sell", "3.00", "0.3333"),  # 3
        ("amend", 3, None, "5.00"),  # larger: loses priority
        ("amend", 3, "0.2000", None),  # new price
        ("amend", 3, "0.2000", "4.00", "stale"),  # refused: the view is stale
        ("amend", 3, "0.2000", "4.00", "seen"),
        ("amend", 3, "0.2000", "4.00"),  # refused: nothing to change
        ("cancel", 3),
        ("amend", 3, "0.3000", None),  # refused: cancelled
        ("amend", 2, None, "7.77"),  # refused: cy has not so much energy
        _order("ann", "buy", "1.00", "0.0999"),  # 4
        _order("ann", "sell", "1.00", "0.9000"),  # 5
        ("amend", 4, "1.0000", None),  # refused: would cross ann's own sell
        ("amend", 4, "0.8000", "7.77"),  # refused: ann has not so much WATT
        ("amend", 4, None, "0.60", None, False),  # smaller: never the guard's
        ("amend", 4, "0.0998", None, None, False),  # the guard's: it passes
        ("amend", 2, "0.3333", "2.40", None, False),  # the guard stops it (far away)
        _order("bob", "buy", "0.50", "0.0500"),  # 6
        ("amend", 6, "0.3333", None),  # fills at cy's 0.1000: the rest of its hold back
        _order("cy", "buy", "0.30", "0.1000"),  # 7: holds 0.04
        _order("bob", "sell", "0.10", "0.1000"),  # pays 0.02 of it: 0.02 left for 0.20
        ("amend", 7, None, "0.25"),  # 0.15 would need 0.03: it keeps holding 0.02
    ],
}

# Migration 0019's rules: market orders at the default cap the user was shown (refused
# with no reference yet, placed at a cap inside the band around the mid and the last
# trade, refused once the band has left it on either side, the rest cancelled with the
# note) and cancel-alls bounded by the newest order the user saw (some left newer, none
# cancelled but some left, unbounded by nothing newer, one side only).
SAFETY: dict[str, Any] = {
    "minimum": "0.01",
    "band": "20.00",
    "ttl": 24,
    "wallets": [("40.00", "20.00"), ("40.00", "20.00"), ("3.00", "20.00")],
    "steps": [
        _order("bob", "sell", "1.50", "0.1000"),  # 0
        _order("ann", "buy", "1.00", "0.1000", market="shown"),  # refused: no reference
        _order("cy", "buy", "0.50", "0.0800"),  # 1: a bid: the mid is 0.0900
        _order("ann", "buy", "0.50", "0.1000", market="shown"),  # 2: inside 0.0720-0.1080
        _order("ann", "buy", "2.00", None, market="shown"),  # 3: 0.1200; 1.00 fills, rest off
        _order("cy", "sell", "1.00", "0.1150"),  # 4
        _order("ann", "buy", "1.00", "0.1234", market="shown"),  # refused: band 0.08-0.12
        _order("ann", "buy", "0.50", "0.1150", market="shown"),  # 5: the last trade 0.1150
        _order("bob", "sell", "0.50", "0.0800", market="shown"),  # refused: 0.0920-0.1380
        _order("bob", "sell", "0.50", None, market="shown"),  # 6: at 0.0920, nothing crosses
        _order("ann", "buy", "1.00", "0.0500"),  # 7
        _order("ann", "buy", "1.00", "0.0600"),  # 8
        _order("ann", "sell", "1.00", "0.5000"),  # 9
        ("cancel_all", "ann", None, 1),  # 7 and 8; 9 left newer
        _order("ann", "buy", "1.00", "0.0500"),  # 10
        ("cancel_all", "ann", "buy", 1),  # none: 10 left newer
        ("cancel_all", "ann", None, 0),  # 9 and 10, nothing newer
        ("cancel_all", "cy", "buy", 3),  # 1
    ],
}

# The fat-finger guard on unconfirmed amendments (migration 0019): against the grid
# tariff, the mid (one rounded half-even) and the last trade; far below, far above
# (past 100%, and a tie rounded half-even), a large share of WATT and of kWh (with
# thousands separators), both at once, none (placed), more than is available (no
# warning: the hold refuses it), and a confirmed one.
GUARDED: dict[str, Any] = {
    "minimum": "0.01",
    "band": "20.00",
    "ttl": 24,
    "wallets": [("5000.00", "3000.00"), ("40.00", "20.00"), ("3.00", "20.00")],
    "steps": [
        _order("ann", "buy", "1.00", "0.1000"),  # 0
        ("amend", 0, "0.0500", None, None, False),  # far below the grid tariff 0.2500
        _order("bob", "sell", "0.50", "0.1001"),  # 1: the mid 0.10005 rounds to 0.1000
        ("amend", 0, "0.0500", None, None, False),  # far below the mid 0.1000
        ("cancel", 1),
        _order("bob", "sell", "1.00", "0.2000"),  # 2: the mid is 0.1500
        ("amend", 0, "0.1400", None, None, False),  # within the band: placed
        ("amend", 0, "0.0700", None, None, False),  # far below the mid 0.1700
        _order("cy", "buy", "0.50", "0.2000"),  # 3: the last trade is 0.2000
        ("amend", 0, "0.4500", None, None, False),  # 125% above
        ("amend", 0, "0.2445", None, None, False),  # 22.25% above: 22.2%
        ("amend", 0, None, "40000.00", None, False),  # more than available: refused so
        ("amend", 0, None, "30000.00", None, False),  # far and a large share
        ("amend", 0, "0.1900", "20000.00", None, False),  # a large share only
        _order("ann", "sell", "2000.00", "0.3000"),  # 4
        ("amend", 4, None, "2500.00", None, False),  # kWh: far and a large share
        ("amend", 4, "0.2100", "1000.00", None, False),  # placed
        ("amend", 4, "0.1500", None, None, False),  # far below
        ("amend", 4, "0.1600", None, None, True),  # confirmed
    ],
}


# Settlements past a column's precision (migration 0031): a seller's WATT balance as
# taker and as maker (the taker told only "another account"), an amendment crossing
# into it, exactly up to the limit; then one huge trade at the smallest price, after
# which the buyer's bought energy and the day's statistics pass it (in that order).
LIMITS: dict[str, Any] = {
    "minimum": "0.01",
    "band": "20.00",
    "ttl": 24,
    "wallets": [("9999999999998.00", "20.00"), ("40.00", "20.00"), ("3.00", "20.00")],
    "steps": [
        _order("bob", "buy", "1.25", "1.0000"),  # 0
        _order("ann", "sell", "1.25", "1.0000"),  # 1: ann at ...999.25
        _order("bob", "buy", "1.00", "1.0000"),  # 2
        _order("ann", "sell", "1.00", "1.0000"),  # refused: ann's own balance
        _order("ann", "sell", "1.00", "0.5000", "ioc"),  # refused: at the maker's 1.0000
        _order("ann", "sell", "0.74", "1.0000"),  # 3: exactly to the limit
        _order("ann", "buy", "0.30", "0.9000"),  # 4
        _order("cy", "sell", "0.30", "0.9000"),  # 5: fills bob's rest, then 0.04 of ann's
        _order("ann", "sell", "0.50", "1.1000"),  # 6: rests
        _order("bob", "buy", "0.50", "1.1000"),  # refused: another account's balance
        _order("bob", "buy", "0.50", "1.0000"),  # 7
        ("amend", 7, "1.1000", None),  # refused so too: it would cross ann's sell
        _order("bob", "buy", "0.04", "1.1000"),  # 8: ann 0.02 below the limit
    ],
}
HUGE = "9999999999990.00"
DAY: dict[str, Any] = {
    "minimum": "0.01",
    "band": "20.00",
    "ttl": 24,
    "wallets": [("100.00", HUGE), ("1050000100.00", "0"), ("3.00", "20.00")],
    "steps": [
        _order("ann", "sell", HUGE, "0.0001"),  # 0
        _order("bob", "buy", HUGE, "0.0001"),  # 1: the day 9.99 kWh below the limit
        _order("cy", "sell", "10.00", "1.0000"),  # 2
        _order("bob", "buy", "10.00", "1.0000"),  # refused: bob's bought energy first
        _order("ann", "buy", "10.00", "1.0000"),  # refused: the day's statistics
        _order("ann", "buy", "9.99", "1.0000"),  # 3: the day exactly at the limit
        _order("ann", "buy", "0.01", "1.0000", "ioc"),  # refused
    ],
}


@settings(
    max_examples=int(os.environ.get("DIFFERENTIAL_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(case=dict(EVERY_PATH, fee="0.0500"))
@example(case=dict(CENTS, fee="0.0500"))
@example(case=dict(AMENDS, fee="0.0500"))
@example(case=dict(AMENDS, fee="0.0333"))
@example(case=dict(EVERY_PATH, fee="0", band="0", ttl=0))
@example(case=dict(EVERY_PATH, fee="0.0500", grid="CY"))
@example(case=dict(CENTS, fee="0.0333", grid="Bob"))
@example(case=dict(SAFETY, fee="0.0500"))
@example(case=dict(SAFETY, fee="0.0333", band="12.50"))
@example(case=dict(SAFETY, fee="0", band="0"))
@example(case=dict(GUARDED, fee="0.0500"))
@example(case=dict(GUARDED, fee="0", band="0"))
@example(case=dict(LIMITS, fee="0.0500"))
@example(case=dict(LIMITS, fee="0.0333", grid="ANN"))
@example(case=dict(DAY, fee="0.0500"))
@given(case=scenario)
def test_server_function_places_exactly_as_the_python_path(
    two_databases: tuple[peewee.Database, peewee.Database],
    case: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    python_db, function_db = two_databases
    monkeypatch.setattr(server, "ENABLED", False)
    by_python = _run(python_db, case, monkeypatch)
    monkeypatch.setattr(server, "ENABLED", True)
    by_function = _run(function_db, case, monkeypatch)
    assert by_function["answers"] == by_python["answers"]
    assert by_function["rows"] == by_python["rows"]
    assert by_function["problems"] == by_python["problems"] == []


def test_an_amendment_is_one_call_of_the_function(
    function_db: tuple[peewee.Database, StatementLog],
) -> None:
    """Issue 13: on PostgreSQL an amendment is the owner check and one call, however it
    trades, and whether or not the fat-finger guard stops it (migration 0019)."""
    _, statements = function_db
    ann, bob = trader("ann", watt="40.00"), trader("bob", energy="20.00")
    buy = place_order(ann, OrderRequest("buy", Decimal("2.00"), Decimal("0.1000")))
    place_order(bob, OrderRequest("sell", Decimal("1.00"), Decimal("0.1100")))
    with statements.during() as ran:
        shrunk = amend_order(ann, buy.order.id, amount="1.50")
    assert shrunk.order.amount == Decimal("1.50") and not shrunk.fills
    assert len(ran) == 2 and "energy_tui_amend_order" in ran[1]
    with statements.during() as ran:
        crossed = amend_order(ann, buy.order.id, price="0.1100", confirmed=True)
    assert [f.price for f in crossed.fills] == [Decimal("0.1100")]
    assert crossed.order.filled == Decimal("1.00")
    assert len(ran) == 2
    with statements.during() as ran:
        amend_order(ann, buy.order.id, price="0.1050")  # within the band: the guard passes
    assert len(ran) == 2 and "energy_tui_amend_order" in ran[1]
    with statements.during() as ran, pytest.raises(guard.Unconfirmed) as stopped:
        amend_order(ann, buy.order.id, price="0.2000")  # far from the last trade
    assert len(ran) == 2
    assert stopped.value.caution.reference == guard.Reference(Decimal("0.1100"), "last trade")
    assert stopped.value.caution.commit == Decimal("0.11")  # 0.50 kWh at 0.2000 + fee
    assert invariants.check() == []


def test_the_apps_market_order_and_bounded_cancel_all_are_one_call_each(
    function_db: tuple[peewee.Database, StatementLog],
) -> None:
    """Issue 13: the app places a market order at the cap its preview showed and cancels
    all up to the newest order it listed; on PostgreSQL each is one call of a function
    (migration 0019), not the Python path."""
    _, statements = function_db
    ann, bob = trader("ann", watt="40.00"), trader("bob", energy="20.00")
    place_order(bob, OrderRequest("sell", Decimal("1.00"), Decimal("0.1000")))
    place_order(ann, OrderRequest("buy", Decimal("0.50"), Decimal("0.1000")))
    shown = OrderRequest(
        "buy", Decimal("1.00"), Decimal(_default_cap_now("buy") or 0), "ioc", None, "market"
    )
    with statements.during() as ran:
        placed = place_order(ann, dataclasses.replace(shown, shown_cap=True))
    assert placed.order.price == Decimal("0.1200") and len(placed.fills) == 1
    assert len(ran) == 1 and "energy_tui_place_order" in ran[0]
    place_order(bob, OrderRequest("sell", Decimal("1.00"), Decimal("0.2000")))
    with statements.during() as ran:
        done = cancel_all(bob, up_to_placed_seq=placed.order.placed_seq)
    assert (done.count, done.left_newer) == (0, 1)
    assert len(ran) == 1 and "energy_tui_cancel_all" in ran[0]
    assert invariants.check() == []


def _run(
    database: peewee.Database, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    moment = [START]
    monkeypatch.setattr(clock, "now", lambda: moment[0])
    db.initialize(database)
    with database.connection_context():
        backends.empty_tables(database, "postgres")
        database.execute_sql(
            "UPDATE market_state SET grid_fee_rate = %s, min_order_value = %s, "
            "price_band_percent = %s, order_ttl_hours = %s WHERE id = 1",
            (Decimal(case["fee"]), Decimal(case["minimum"]), Decimal(case["band"]), case["ttl"]),
        )
        actors = {
            name: trader(name, watt=watt, energy=energy)
            for name, (watt, energy) in zip(TRADERS, case["wallets"], strict=True)
        }
        if case.get("grid"):  # fees go to a trader, named by the rules in another case
            database.execute_sql(
                "UPDATE market_state SET grid_operator_address = %s WHERE id = 1", (case["grid"],)
            )
            database.execute_sql(
                "UPDATE prosumers SET kind = 'grid_operator' WHERE address = %s",
                (case["grid"].lower(),),
            )
        placed: list[uuid.UUID] = []
        answers = [_step(step, actors, placed, moment) for step in case["steps"]]
        return outcome(database, answers)


def outcome(database: peewee.Database, answers: list[Any]) -> dict[str, Any]:
    """What a run leaves, comparable across databases: the answers and every row named
    by placement order (ids differ between runs), and the invariants' problems."""
    seqs = _placed_seqs(database)
    rows = _named(_rows(database), seqs)
    rows["audit"] = _expiries_in_order(rows["audit"])
    return {
        "answers": [_named(answer, seqs) for answer in answers],
        "rows": rows,
        "problems": invariants.check(),
    }


def _step(
    step: tuple[Any, ...],
    actors: dict[str, Actor],
    placed: list[uuid.UUID],
    moment: list[dt.datetime],
) -> Any:
    kind = step[0]
    try:
        if kind == "place":
            _, name, side, amount, price, tif, market, minutes = step
            if not market and price is None:
                price = "0.1000"
            shown = market == "shown"
            if shown and price is None:
                price = _default_cap_now(side)
            request = OrderRequest(
                side,
                Decimal(amount),
                Decimal(price) if price is not None else None,
                "ioc" if market and tif == "gtc" else tif,
                moment[0] + dt.timedelta(minutes=minutes) if minutes else None,
                "market" if market else "limit",
                shown_cap=shown,
            )
            result = place_order(actors[name], request)
            placed.append(result.order.id)
            return ("placed", _view(result.order), [_fill(f) for f in result.fills])
        if kind == "jump":
            moment[0] += dt.timedelta(minutes=step[1])
            return ("now", moment[0])
        if kind == "sweep":
            return ("swept", sweep_expired())
        if not placed and kind in ("cancel", "amend"):
            return ("nothing",)
        if kind == "cancel":
            order = placed[step[1] % len(placed)]
            owner = _owner(order, actors)
            return ("cancelled", _view(cancel_order(owner, order)))
        if kind == "amend":
            order = placed[step[1] % len(placed)]
            seen = step[4] if len(step) > 4 else None
            confirmed = step[5] if len(step) > 5 else True
            result = amend_order(
                _owner(order, actors),
                order,
                price=step[2],
                amount=step[3],
                confirmed=confirmed,
                expected=_expected(order, seen),
            )
            return ("amended", _view(result.order), [_fill(f) for f in result.fills])
        bound = step[3] if len(step) > 3 else None
        up_to = None if bound is None else _newest_placed_seq() - bound
        done = cancel_all(actors[step[1]], step[2], up_to)
        return ("cancel_all", done.count, done.released_watt, done.released_energy, done.left_newer)
    except EnergyError as exc:
        caution = repr(getattr(exc, "caution", None))  # the guard's figures, to the digit
        return ("refused", type(exc).__name__, str(exc), getattr(exc, "field", None), caution)


def _default_cap_now(side: str) -> str | None:
    """The default cap a preview would show now (None when there is none: the order then
    goes without one)."""
    try:
        return str(default_cap(side, rules.current(), clock.now())[0])
    except EnergyError:
        return None


def _newest_placed_seq() -> int:
    return int(
        db.execute_sql("SELECT coalesce(max(placed_seq), 0) FROM energy_orders").fetchone()[0]
    )


def _expected(order: uuid.UUID, seen: str | None) -> tuple[Decimal, Decimal] | None:
    """The (price, amount) a view showed: as the order is now, or one amendment ago."""
    if seen is None:
        return None
    price, amount = db.execute_sql(
        "SELECT price_per_kwh, energy_amount FROM energy_orders WHERE id = %s", (order,)
    ).fetchone()
    return (price, amount + Decimal("0.01") if seen == "stale" else amount)


def _owner(order: uuid.UUID, actors: dict[str, Actor]) -> Actor:
    row = db.execute_sql(
        "SELECT trader_address FROM energy_orders WHERE id = %s", (order,)
    ).fetchone()
    return actors[row[0]]


def _view(view: Any) -> tuple[Any, ...]:
    return (
        view.id,
        view.trader_address,
        view.side,
        view.amount,
        view.price,
        view.filled,
        view.status,
        view.time_in_force,
        view.created_at,
        view.expires_at,
        view.watt_reserved,
        view.kind,
        view.reason,
        view.placed_seq,
    )


def _fill(fill: Any) -> tuple[Any, ...]:
    return (
        "trade",  # its id is the implementation's own
        fill.buy_order_id,
        fill.sell_order_id,
        fill.buyer_address,
        fill.seller_address,
        fill.amount,
        fill.price,
        fill.total,
        fill.fee,
        fill.buyer_total,
        fill.taker_side,
        fill.executed_at,
        fill.seq,
    )


_TABLES = {
    "prosumers": "address",
    "energy_orders": "placed_seq",
    "energy_trades": "seq",
    "market_statistics": "date",
    "market_candles": "seconds, bucket_start",
    "market_state": "id",
}
_UNCOMPARED = {
    "energy_trades": ("id",),
    "market_statistics": ("id",),
    "market_candles": ("id",),
    # The Python path writes back every account it loaded, changed or not: a capped
    # market buy that stops before a maker it had loaded bumps that maker's (and the fee
    # receiver's) updated_at without changing a balance; the function touches only the
    # accounts it changes. Every balance column is compared.
    "prosumers": ("updated_at",),
}


def _rows(database: peewee.Database) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for table, order in _TABLES.items():
        cursor = database.execute_sql(f"SELECT * FROM {table} ORDER BY {order}")
        names = [column[0] for column in cursor.description]
        skip = _UNCOMPARED.get(table, ())
        found[table] = [
            {k: v for k, v in zip(names, row, strict=True) if k not in skip}
            for row in cursor.fetchall()
        ]
    audit = database.execute_sql(
        "SELECT created_at, event_type, user_id, api_key_id, ip_address, event_data, actor, "
        "outcome FROM audit_logs WHERE event_type LIKE 'order%%' ORDER BY id"
    ).fetchall()
    found["audit"] = [(*row[:5], _audit_data(row[5]), *row[6:]) for row in audit]
    return found


def _expiries_in_order(audit: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The audit trail with each run of `order_expired` events of one moment sorted:
    the Python path expires the due orders in the order the database returns them (its
    statement has no ORDER BY), the function by seq; which orders expired, and when,
    is what both must agree on."""
    result: list[tuple[Any, ...]] = []
    run: list[tuple[Any, ...]] = []
    for row in [*audit, None]:
        if row is not None and row[1] == "order_expired" and (not run or run[0][0] == row[0]):
            run.append(row)
            continue
        result += sorted(run, key=repr)
        run = [row] if row is not None and row[1] == "order_expired" else []
        if row is not None and not run:
            result.append(row)
    return result


def _audit_data(text: str) -> Any:
    data = json.loads(text)
    data.pop("trade_id", None)  # the implementation's own
    return data


def _placed_seqs(database: peewee.Database) -> dict[str, int]:
    rows = database.execute_sql("SELECT id, placed_seq FROM energy_orders").fetchall()
    return {str(oid): int(seq) for oid, seq in rows}


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _named(value: Any, seqs: dict[str, int]) -> Any:
    """`value` with every order id replaced by the order's placement sequence."""
    if isinstance(value, uuid.UUID):
        return ("order", seqs.get(str(value), "?"))
    if isinstance(value, str):
        return _UUID.sub(lambda m: f"order#{seqs.get(m.group(0), '?')}", value)
    if isinstance(value, dict):
        return {k: _named(v, seqs) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_named(v, seqs) for v in value)
    return value


def test_the_json_of_audit_events_is_inlined_not_called(
    function_db: tuple[peewee.Database, StatementLog],
) -> None:
    """Issue 13, migration 0030: `energy_tui_json_text` (each audit event's JSON
    strings) is STABLE, as `to_json` is, so PostgreSQL inlines it; declared IMMUTABLE it
    was called 8 times a trading placement, a ninth of the server's time under the
    market lock. A sweep of three makers records them in one call."""
    database, _ = function_db
    ann, bob = trader("ann", watt="40.00"), trader("bob", energy="20.00")
    for price in ("0.1000", "0.1001", "0.1002"):
        place_order(bob, OrderRequest("sell", Decimal("1.00"), Decimal(price)))
    with database.atomic():  # the calls this transaction made, counted by the server
        database.execute_sql("SET LOCAL track_functions = 'all'")
        placed = place_order(ann, OrderRequest("buy", Decimal("3.00"), Decimal("0.1002")))
        calls = dict(
            database.execute_sql(
                "SELECT funcname, calls FROM pg_stat_xact_user_functions"
            ).fetchall()
        )
    assert len(placed.fills) == 3
    assert calls["energy_tui_place_order"] == calls["energy_tui_record_fills"] == 1
    assert "energy_tui_json_text" not in calls
    assert invariants.check() == []
