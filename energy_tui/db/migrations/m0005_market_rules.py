"""The market rules (DESIGN §3) move into the database: columns of `market_state`,
seeded once from the settings (GRID_FEE_RATE, GRID_OPERATOR_ADDRESS, ORDER_TTL_HOURS,
MIN_ORDER_VALUE, PRICE_BAND_PERCENT, GRID_IMPORT_PRICE). After this step the settings
no longer change how a trade settles; an admin changes a rule with `market rules set`.

Trades settled before this step (under whatever rate each client had) are marked by
`rules_from_trade_seq`, so that `market check` does not hold them to the stored rules.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.config import Settings, default_settings
from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import MarketState


def up(database: Database, settings: Settings | None = None) -> None:
    ensure_table(database, MarketState)
    MarketState.update(
        **seed_values(settings or default_settings()), rules_from_trade_seq=MarketState.trade_seq
    ).where(MarketState.id == 1).execute()


def seed_values(settings: Settings) -> dict[str, object]:
    """The `market_state` columns of the rules, from the settings."""
    return {
        "grid_fee_rate": settings.grid_fee_rate,
        "grid_operator_address": settings.grid_operator_address,
        "order_ttl_hours": settings.order_ttl_hours,
        "min_order_value": settings.min_order_value,
        "price_band_percent": settings.price_band_percent,
        "grid_import_price": settings.grid_import_price,
    }
