"""The market: orders, the continuous double auction, settlement, the book, statistics."""

from energy_tui.services.market.money import MarketRules
from energy_tui.services.market.orders import (
    OrderRequest,
    cancel_order,
    order_request,
    own_address,
    place_order,
    sweep_expired,
)
from energy_tui.services.market.views import Fill, OrderView, PlaceResult

__all__ = [
    "Fill",
    "MarketRules",
    "OrderRequest",
    "OrderView",
    "PlaceResult",
    "cancel_order",
    "order_request",
    "own_address",
    "place_order",
    "sweep_expired",
]
