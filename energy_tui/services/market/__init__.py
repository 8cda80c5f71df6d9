"""The market: orders, the continuous double auction, settlement, the book, statistics.

The three actions that take the market lock are exported wrapped by `market_busy`: a
lock wait longer than DB_TIMEOUT_SECONDS is then `MarketBusy` ("the market is busy")
on every backend, whichever front end calls them.
"""

from energy_tui.services.market import orders
from energy_tui.services.market.money import MarketRules
from energy_tui.services.market.orders import OrderRequest, order_request, own_address
from energy_tui.services.market.sql import market_busy
from energy_tui.services.market.views import Fill, OrderView, PlaceResult

place_order = market_busy(orders.place_order)
cancel_order = market_busy(orders.cancel_order)
sweep_expired = market_busy(orders.sweep_expired)

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
