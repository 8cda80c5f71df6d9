"""The settlement arithmetic of DESIGN §3, in exact decimals."""

from __future__ import annotations

import dataclasses
from decimal import ROUND_HALF_EVEN, Decimal

from energy_tui.config import Settings

CENT = Decimal("0.01")
PRICE_STEP = Decimal("0.0001")
MAX_MONEY = Decimal("9999999999999.99")


def round_money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def round_price(value: Decimal) -> Decimal:
    return value.quantize(PRICE_STEP, rounding=ROUND_HALF_EVEN)


@dataclasses.dataclass(frozen=True)
class MarketRules:
    """The settings the market runs by."""

    fee_rate: Decimal = Decimal("0.05")
    order_ttl_hours: int = 24
    grid_operator_address: str = "grid-operator"
    grid_import_price: Decimal = Decimal("0.2500")
    price_band_percent: Decimal = Decimal("20")

    @classmethod
    def from_settings(cls, settings: Settings) -> MarketRules:
        return cls(
            settings.grid_fee_rate,
            settings.order_ttl_hours,
            settings.grid_operator_address,
            settings.grid_import_price,
        )

    def trade_total(self, amount: Decimal, price: Decimal) -> Decimal:
        """amount x price, rounded half-even to the cent, and never below one cent for
        a positive amount: no energy changes hands for free (a taker slicing a big
        order into sub-cent fills would otherwise pay nothing)."""
        value = amount * price
        return max(CENT, round_money(value)) if value > 0 else round_money(value)

    def fee(self, total: Decimal) -> Decimal:
        return round_money(total * self.fee_rate)

    def buyer_cost(self, amount: Decimal, price: Decimal) -> Decimal:
        """What a buyer pays for `amount` at `price`, grid fee included."""
        total = self.trade_total(amount, price)
        return total + self.fee(total)
