"""The largest amounts the schema stores, and the refusal of a settlement past them.

Each value a user types is checked against its column (`validation`), but a settlement
adds: a seller's WATT balance grows by the trade's total, `energy_bought` and
`energy_sold` only grow, the fee receiver's balance grows by every fee, the day's
`market_statistics` and its candle buckets sum every trade. Past DECIMAL(15,2)
PostgreSQL and MariaDB (strict) refuse the write (SQLSTATE 22003, MySQL error 1264)
and SQLite stores an inexact REAL; so every such sum is checked before anything is
written, and the whole placement (or amendment) is refused with `LimitExceeded`.

The messages are the PostgreSQL functions' too (migration 0031: the differential test
holds them equal). Another trader's account is never described beyond "another
account's balance": a taker learns nothing of a maker's or the fee receiver's figures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from energy_tui.db.failures import is_out_of_range
from energy_tui.errors import LimitExceeded

MAX_AMOUNT = Decimal("9999999999999.99")  # DECIMAL(15,2): WATT and kWh columns
MAX_NOTIONAL = Decimal("999999999999999999.999999")  # market_statistics.notional (24,6)
_SHOWN = "9,999,999,999,999.99"


def _own(what: str, unit: str) -> str:
    return (
        f"this order would take {what} past the largest amount an account holds "
        f"({_SHOWN} {unit}): nothing was done"
    )


OWN_WATT = _own("your WATT balance", "WATT")
OWN_BOUGHT = _own("your bought energy total", "kWh")
OWN_SOLD = _own("your sold energy total", "kWh")
OWN_HELD = _own("the energy held by your sell orders", "kWh")
OTHER = (
    f"this order would take another account's balance past the largest amount an account "
    f"holds ({_SHOWN}): nothing was done; a smaller amount may trade"
)
MARKET = (
    "this order would take the market's statistics of the day past the largest figures "
    f"they hold ({_SHOWN} kWh traded): nothing was done"
)
# a write the database itself refused as out of range, none of the checks having seen
# it coming (a column or a path they do not know): still refused, not a crash
STORED = (
    f"this order would take a stored amount past the largest the database holds "
    f"({_SHOWN}): nothing was done"
)


def refuse(message: str) -> LimitExceeded:
    return LimitExceeded(message, field="amount")


def check(value: Decimal, message: str) -> None:
    """Refuse when `value`, about to be stored in a DECIMAL(15,2) column, is past it."""
    if value > MAX_AMOUNT:
        raise refuse(message)


def check_account(account: Any, own: Any, field: str, own_message: str) -> None:
    """`account.<field>` grew: refuse when past its column, in the taker's words when
    it is the taker's own account (`own`), else without a word of whose or how much."""
    if getattr(account, field) > MAX_AMOUNT:
        raise refuse(own_message if account is own else OTHER)


def check_day(volume: Decimal, notional: Decimal) -> None:
    """The day's `market_statistics` totals (and a candle bucket's volume)."""
    if volume > MAX_AMOUNT or notional > MAX_NOTIONAL:
        raise refuse(MARKET)


@contextlib.contextmanager
def out_of_range() -> Iterator[None]:
    """A write the database refused as out of range (SQLSTATE 22003, MySQL 1264), raised
    out of the transaction (rolled back by then), as `LimitExceeded`."""
    try:
        yield
    except Exception as exc:
        if is_out_of_range(exc):
            raise refuse(STORED) from None
        raise
