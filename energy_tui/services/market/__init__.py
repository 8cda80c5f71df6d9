"""The market: orders, the continuous double auction, settlement, the book, statistics.

The actions that take the market lock are exported wrapped by `market_busy`: a
lock wait longer than DB_TIMEOUT_SECONDS is then `MarketBusy` ("the market is busy")
on every backend, whichever front end calls them.
"""

from energy_tui.services.market import orders
from energy_tui.services.market.money import MarketRules
from energy_tui.services.market.orders import OrderRequest, order_request, own_address
from energy_tui.services.market.sql import market_busy
from energy_tui.services.market.views import CancelAll, Fill, OrderView, PlaceResult

place_order = market_busy(orders.place_order)
cancel_order = market_busy(orders.cancel_order)
amend_order = market_busy(orders.amend_order)
cancel_all = market_busy(orders.cancel_all)
sweep_expired = market_busy(orders.sweep_expired)

__all__ = [
    "CancelAll",
    "Fill",
    "MarketRules",
    "OrderRequest",
    "OrderView",
    "PlaceResult",
    "amend_order",
    "cancel_all",
    "cancel_order",
    "order_request",
    "own_address",
    "place_order",
    "sweep_expired",
]
