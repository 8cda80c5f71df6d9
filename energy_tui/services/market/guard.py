"""The fat-finger guard: an order priced far from the market, or committing more than
half of what the trader has, is placed only once the trader has said so (a
confirmation in the TUI, `--yes` on the command line). The decision is made here, once,
for every front end; the market itself places whatever it is given.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from energy_tui import clock
from energy_tui.errors import ValidationError
from energy_tui.services import prosumers
from energy_tui.services.market import book as market_book
from energy_tui.services.market.book import Book
from energy_tui.services.market.money import MarketRules, band_cap
from energy_tui.services.market.orders import OrderRequest, default_cap

_HUNDRED = Decimal(100)


@dataclasses.dataclass(frozen=True)
class Reference:
    """The price an order is compared with, and where it comes from."""

    price: Decimal
    source: str  # "last trade", "mid" or "grid tariff"


@dataclasses.dataclass(frozen=True)
class Caution:
    """What an order would commit, and why (if at all) the trader should confirm it."""

    request: OrderRequest
    base_cost: Decimal  # amount x limit price, WATT
    fee: Decimal  # grid fee a buyer pays on top
    commit: Decimal  # what the order holds: WATT for a buy (fee included), kWh for a sell
    available: Decimal  # of the same unit
    unit: str
    reference: Reference
    reasons: tuple[str, ...]  # empty: no confirmation needed

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.reasons)


class Unconfirmed(ValidationError):
    """An order the guard stopped: placed only when confirmed."""

    def __init__(self, caution: Caution) -> None:
        super().__init__(
            "order not placed: " + "; ".join(caution.reasons) + ". Add --yes to place it anyway"
        )
        self.caution = caution


def reference_price(book: Book, rules: MarketRules) -> Reference:
    """The last trade, else the mid of best bid and ask, else the grid tariff."""
    if book.last_price is not None:
        return Reference(book.last_price, "last trade")
    if book.mid is not None:
        return Reference(book.mid, "mid")
    return Reference(rules.grid_import_price, "grid tariff")


def assess(
    request: OrderRequest, reference: Reference, available: Decimal, rules: MarketRules
) -> Caution:
    """The guard's decision for `request`, from values only (no database). A market
    order without a cap is judged at the default cap around `reference`."""
    if request.price is None:
        cap = band_cap(request.side, reference.price, rules.price_band_percent)
        request = dataclasses.replace(request, price=cap or reference.price)
    assert request.price is not None
    base = rules.trade_total(request.amount, request.price)
    fee = rules.fee(base) if request.side == "buy" else Decimal(0)
    commit, unit = (base + fee, "WATT") if request.side == "buy" else (request.amount, "kWh")
    reasons: tuple[str, ...] = ()
    # More than is available: the market refuses the order with its own reason anyway.
    if commit <= available:
        found = (
            _far_from(request.price, reference, rules.price_band_percent),
            _large_share(commit, available, unit),
        )
        reasons = tuple(reason for reason in found if reason)
    return Caution(request, base, fee, commit, available, unit, reference, reasons)


def check(address: str, request: OrderRequest, rules: MarketRules) -> Caution:
    """The guard's decision for `address` placing `request` now (reads, never writes).
    A market order without a cap is judged at the cap it would get now
    (ValidationError when it would get none)."""
    if request.price is None:
        cap, _ = default_cap(request.side, rules, clock.now())
        request = dataclasses.replace(request, price=cap)
    balances = prosumers.balances(address)
    available = balances.watt_available if request.side == "buy" else balances.energy_available
    reference = reference_price(market_book.book(depth=1), rules)
    return assess(request, reference, available, rules)


def require_confirmed(caution: Caution, confirmed: bool) -> None:
    """Unconfirmed unless the order needs no confirmation or was confirmed."""
    if caution.needs_confirmation and not confirmed:
        raise Unconfirmed(caution)


def require_safe(address: str, request: OrderRequest, confirmed: bool) -> None:
    """The guard for a front end that cannot ask (the CLI's `--yes`, the API's
    `confirm`): `Unconfirmed` unless the order needs no confirmation or was confirmed.

    A confirmed order with a price skips the guard's reads (balances, the book's best
    levels, the rules: as costly as the placement itself), whose only outcome would be
    a confirmation it already has; a market order without a cap is still judged, as its
    cap comes from the guard's reference price."""
    if confirmed and request.price is not None:
        return
    from energy_tui.services.market.rules import current  # rules imports the market

    require_confirmed(check(address, request, current()), confirmed)


def _far_from(price: Decimal, reference: Reference, band: Decimal) -> str:
    if band <= 0 or reference.price <= 0:  # a band of 0 turns the check off
        return ""
    away = (price - reference.price) / reference.price * _HUNDRED
    if abs(away) <= band:
        return ""
    direction = "above" if away > 0 else "below"
    return (
        f"the price {price} is {_percent(abs(away))} {direction} the {reference.source} "
        f"{reference.price} (more than {_percent(band)} away)"
    )


def _large_share(commit: Decimal, available: Decimal, unit: str) -> str:
    if commit * 2 <= available:
        return ""
    return f"it commits {commit:,} of your {available:,} {unit} available (more than half)"


def _percent(value: Decimal) -> str:
    shown = value.quantize(Decimal("0.1")) if value < _HUNDRED else value.quantize(Decimal(1))
    return f"{shown.normalize():f}%"
