"""What the market services return: plain dataclasses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal

from energy_tui.db.models import EnergyOrder
from energy_tui.errors import ValidationError


def parse_order_id(raw: str | uuid.UUID) -> uuid.UUID:
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw).strip())
    except ValueError:
        raise ValidationError(
            f"{str(raw)[:40]!r} is not an order id (a UUID such as 3f2b8c1e-...)", field="order"
        ) from None


EXPIRED = "its lifetime ran out (expires_at)"  # an expired order's status_reason


@dataclasses.dataclass(frozen=True)
class OrderView:
    id: uuid.UUID
    trader_address: str
    side: str
    amount: Decimal
    price: Decimal
    filled: Decimal
    status: str
    time_in_force: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    watt_reserved: Decimal
    kind: str = "limit"  # limit / market (a market order's price is its cap)
    reason: str | None = None  # why it was cancelled, killed or expired
    average_price: Decimal | None = None  # of its fills, set by history reads
    placed_seq: int = 0  # when placed (history's order and the API's page cursor)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in ("open", "partially_filled")

    def as_of(self, now: dt.datetime) -> OrderView:
        """The order as it stands at `now`: an open order whose lifetime has run out is
        expired, whether or not the sweep (at the next placement, cancel or
        `sweep_expired`) has written it so yet; reads never write it."""
        if self.is_open and self.expires_at is not None and self.expires_at <= now:
            return dataclasses.replace(self, status="expired", reason=EXPIRED)
        return self

    @classmethod
    def of(cls, row: EnergyOrder) -> OrderView:
        return cls(
            row.id,
            row.trader_address,
            row.order_type,
            row.energy_amount,
            row.price_per_kwh,
            row.filled_amount,
            row.status,
            row.time_in_force,
            row.created_at,
            row.expires_at,
            row.watt_reserved,
            row.kind or "limit",
            row.status_reason,
            placed_seq=int(row.placed_seq or 0),
        )


@dataclasses.dataclass(frozen=True)
class Fill:
    id: uuid.UUID
    buy_order_id: uuid.UUID
    sell_order_id: uuid.UUID
    buyer_address: str
    seller_address: str
    amount: Decimal
    price: Decimal
    total: Decimal
    fee: Decimal
    buyer_total: Decimal
    taker_side: str
    executed_at: dt.datetime
    seq: int


@dataclasses.dataclass(frozen=True)
class PlaceResult:
    order: OrderView
    fills: list[Fill]


@dataclasses.dataclass(frozen=True)
class CancelAll:
    """What `cancel_all` cancelled and released."""

    orders: list[OrderView]
    released_watt: Decimal  # WATT the cancelled buy orders held
    released_energy: Decimal  # kWh the cancelled sell orders held
    left_newer: int = 0  # open orders placed after `up_to_placed_seq`, left untouched

    @property
    def count(self) -> int:
        return len(self.orders)
