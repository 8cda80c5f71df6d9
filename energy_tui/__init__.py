"""energy-tui: a terminal trading desk for peer-to-peer energy markets."""

from energy_tui.db import drivers as _drivers

__version__ = "0.1.0"

# Peewee, whenever it is first imported, leaves the database drivers to `drivers.load`.
_drivers.install()
