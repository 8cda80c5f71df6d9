"""Price alerts (issue 12): `price_alerts`, one row per alert a user sets on the trade
price crossing a level (with the trade seq it was set at, and its indexes for the firing
check and for one user's alerts), and `price_alert_watermark`, the one row saying up to
which trade the alerts were checked (set to the newest trade: no alert existed before)."""

from __future__ import annotations

from peewee import Database, fn

from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import EnergyTrade, PriceAlert, PriceAlertWatermark


def up(database: Database) -> None:
    ensure_table(database, PriceAlert)
    ensure_table(database, PriceAlertWatermark)
    if PriceAlertWatermark.get_or_none(PriceAlertWatermark.id == 1) is None:
        newest = EnergyTrade.select(fn.MAX(EnergyTrade.seq)).scalar() or 0
        PriceAlertWatermark.create(id=1, checked_seq=newest)
