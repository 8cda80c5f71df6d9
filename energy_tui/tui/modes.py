"""What each top-level screen (a Textual mode) is and which actions open it.

Imported by the app's start worker once the login screen is on display: the screens
bring in the services, Peewee and the database drivers.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.screen import Screen

from energy_tui.services.permissions import Action
from energy_tui.tui.screens.account import AccountScreen
from energy_tui.tui.screens.admin import AdminScreen
from energy_tui.tui.screens.keys import KeysScreen
from energy_tui.tui.screens.order_book import OrderBookScreen
from energy_tui.tui.screens.stats import StatsScreen
from energy_tui.tui.screens.trades import TradesScreen

# mode name (as in the app's SCREENS) -> (screen factory, actions of which any opens it)
SCREENS: dict[str, tuple[Callable[[], Screen], tuple[Action, ...]]] = {
    "book": (OrderBookScreen, (Action.READ_MARKET,)),
    "trades": (TradesScreen, (Action.READ_MARKET,)),
    "stats": (StatsScreen, (Action.READ_MARKET,)),
    "account": (AccountScreen, (Action.READ_MARKET,)),
    "keys": (KeysScreen, (Action.READ_MARKET,)),
    "admin": (AdminScreen, (Action.MANAGE_PROSUMERS, Action.MANAGE_USERS, Action.READ_AUDIT)),
}
