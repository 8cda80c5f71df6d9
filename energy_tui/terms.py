"""The domain's fixed words: roles, prosumer kinds, the market rules' names, the forms a
time may be given in. Plain constants (no Peewee, no settings), so that the command
line's help can name them without loading the database layer."""

from __future__ import annotations

ROLES = ("trader", "operator", "admin", "viewer")
PROSUMER_KINDS = ("residential", "commercial", "industrial", "grid_operator")
# The market rules (DESIGN §3): these settings only seed a new database's rules (the
# first `db migrate`); after that the database's values are the market's.
RULE_SETTINGS = (
    "GRID_FEE_RATE",
    "GRID_OPERATOR_ADDRESS",
    "ORDER_TTL_HOURS",
    "MIN_ORDER_VALUE",
    "PRICE_BAND_PERCENT",
    "GRID_IMPORT_PRICE",
)
SINCE_FORMS = "a date like 2026-01-31, a date-time like 2026-01-31T08:00, or 24h / 7d ago"
EXPIRY_FORMS = "a duration such as 12h, 90d or 2w, or a UTC date such as 2027-01-31"
