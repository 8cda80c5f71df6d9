"""The settlement arithmetic of DESIGN §3, in exact decimals."""

from __future__ import annotations

import dataclasses
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from energy_tui.config import Settings

CENT = Decimal("0.01")
PRICE_STEP = Decimal("0.0001")
MAX_MONEY = Decimal("9999999999999.99")
_NO_FEE = Decimal("0.00")


def round_money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def round_money_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_CEILING)


def round_price(value: Decimal) -> Decimal:
    return value.quantize(PRICE_STEP, rounding=ROUND_HALF_EVEN)


def band_cap(side: str, reference: Decimal, band_percent: Decimal) -> Decimal | None:
    """A market order's default cap: the fat-finger band around `reference`, inward to
    the price step (a buy at most reference + band, a sell at least reference - band,
    and never below the smallest price). None when the band is off (0)."""
    if band_percent <= 0 or reference <= 0:
        return None
    share = band_percent / Decimal(100)
    if side == "buy":
        return (reference * (1 + share)).quantize(PRICE_STEP, rounding=ROUND_FLOOR)
    low = (reference * (1 - share)).quantize(PRICE_STEP, rounding=ROUND_CEILING)
    return max(low, PRICE_STEP)


@dataclasses.dataclass(frozen=True)
class MarketRules:
    """The rules the market runs by. The market's own are stored in the database
    (`market_state`, read by `market.rules.current()` and by every placement under the
    market lock); the defaults here are the settings' defaults."""

    fee_rate: Decimal = Decimal("0.05")
    order_ttl_hours: int = 24
    grid_operator_address: str = "grid-operator"
    grid_import_price: Decimal = Decimal("0.2500")
    price_band_percent: Decimal = Decimal("20")
    min_order_value: Decimal = Decimal("0.01")

    @classmethod
    def from_settings(cls, settings: Settings) -> MarketRules:
        """The rules the settings name: what a new database is seeded with."""
        return cls(
            settings.grid_fee_rate,
            settings.order_ttl_hours,
            settings.grid_operator_address,
            settings.grid_import_price,
            settings.price_band_percent,
            settings.min_order_value,
        )

    def trade_total(self, amount: Decimal, price: Decimal) -> Decimal:
        """amount x price, rounded half-even to the cent, and never below one cent for
        a positive amount: no energy changes hands for free (a taker slicing a big
        order into sub-cent fills would otherwise pay nothing)."""
        value = amount * price
        return max(CENT, round_money(value)) if value > 0 else round_money(value)

    def fee(self, total: Decimal) -> Decimal:
        """total x the fee rate, rounded UP to the cent: a positive fee is at least 0.01,
        so splitting an order into small trades cannot dodge it (half-even rounding
        made the fee of a 0.02 WATT trade at 5% zero)."""
        if total <= 0 or self.fee_rate <= 0:
            return _NO_FEE
        return round_money_up(total * self.fee_rate)

    def buyer_cost(self, amount: Decimal, price: Decimal) -> Decimal:
        """What a buyer pays for `amount` at `price`, grid fee included."""
        total = self.trade_total(amount, price)
        return total + self.fee(total)
