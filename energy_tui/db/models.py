"""Peewee models: the seven tables of the platform's seed schema plus ours.

Seed tables keep their names, columns and types; what we add is listed in DESIGN §2.
Timestamps are naive UTC. Amounts use the exact fields of `db.fields`.
"""

from __future__ import annotations

from decimal import Decimal

from peewee import (
    SQL,
    AutoField,
    BigAutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
    UUIDField,
)

from energy_tui import clock
from energy_tui.db.fields import (
    EnergyField,
    ExactDecimalField,
    MoneyField,
    PermissionsField,
    PriceField,
)
from energy_tui.db.ids import new_id

db = DatabaseProxy()


def _now():  # type: ignore[no-untyped-def]
    """Column default: the clock as it is when the row is made (tests freeze it)."""
    return clock.now()


ORDER_SIDES = ("buy", "sell")
ORDER_STATUSES = ("open", "partially_filled", "filled", "cancelled", "expired")
TIME_IN_FORCE = ("gtc", "ioc", "fok")
ORDER_KINDS = ("limit", "market")
ALERT_DIRECTIONS = ("above", "below")


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Prosumer(BaseModel):
    address = CharField(max_length=100, primary_key=True)
    name = CharField(max_length=200)
    energy_generated = EnergyField()
    energy_consumed = EnergyField()
    grid_tokens = MoneyField()
    watt_tokens = MoneyField()
    created_at = DateTimeField(default=_now)
    updated_at = DateTimeField(default=_now)
    # ours
    watt_reserved = MoneyField()
    energy_bought = EnergyField()
    energy_sold = EnergyField()
    energy_reserved = EnergyField()
    kind = CharField(max_length=20, default="residential")

    class Meta:
        table_name = "prosumers"


class User(BaseModel):
    id = UUIDField(primary_key=True, default=new_id)
    username = CharField(max_length=50, unique=True)
    email = CharField(max_length=100, unique=True)
    password_hash = CharField(max_length=255)
    role = CharField(max_length=20, default="trader")
    is_active = BooleanField(default=True)
    created_at = DateTimeField(default=_now)
    last_login = DateTimeField(null=True)
    # ours
    prosumer = ForeignKeyField(Prosumer, column_name="prosumer_address", null=True, backref="users")
    failed_logins = IntegerField(default=0)
    locked_until = DateTimeField(null=True)

    class Meta:
        table_name = "users"


class ApiKey(BaseModel):
    id = UUIDField(primary_key=True, default=new_id)
    user = ForeignKeyField(User, column_name="user_id", null=True, backref="api_keys")
    name = CharField(max_length=100)
    key_hash = CharField(max_length=255)
    permissions = PermissionsField(default=lambda: ["read"])
    is_active = BooleanField(default=True)
    expires_at = DateTimeField(null=True)
    created_at = DateTimeField(default=_now)
    last_used = DateTimeField(null=True)
    # ours
    prefix = CharField(max_length=32, null=True, unique=True)
    revoked_at = DateTimeField(null=True)
    # the key that made this one (None: made by a login session or the local operator,
    # or before migration 0032); revoking a key revokes the keys it made
    made_by = ForeignKeyField(
        "self",
        column_name="made_by_key_id",
        null=True,
        on_delete="SET NULL",
        backref="made_keys",
        lazy_load=False,
    )

    class Meta:
        table_name = "api_keys"


class EnergyOrder(BaseModel):
    id = UUIDField(primary_key=True, default=new_id)
    trader_address = CharField(max_length=100)
    order_type = CharField(
        max_length=10, constraints=[SQL("CHECK (order_type IN ('buy', 'sell'))")]
    )
    energy_amount = EnergyField()
    price_per_kwh = PriceField()
    is_active = BooleanField(default=True)
    created_at = DateTimeField(default=_now)
    # ours
    filled_amount = EnergyField()
    status = CharField(max_length=20, default="open")
    time_in_force = CharField(max_length=3, default="gtc")
    expires_at = DateTimeField(null=True)
    updated_at = DateTimeField(default=_now)
    watt_reserved = MoneyField()  # WATT this buy order still holds
    seq = BigIntegerField(default=0)  # arrival sequence: time priority without clock ties
    kind = CharField(max_length=10, default="limit")  # limit / market (migration 0008)
    status_reason = CharField(max_length=255, null=True)  # why it was cancelled or expired
    # when it was placed: its seq at insertion, never renewed by an amendment (0008);
    # "my orders" are newest placed first by it (seq orders the book)
    placed_seq = BigIntegerField(default=0)

    class Meta:
        table_name = "energy_orders"
        indexes = (
            # the book: open orders of one side by price, then arrival
            (("is_active", "order_type", "price_per_kwh", "seq"), False),
            # the expiry sweep
            (("is_active", "expires_at"), False),
            # a prosumer's orders, and the self-trade check
            (("trader_address", "is_active", "order_type", "price_per_kwh"), False),
            # "my orders" newest placed first, all and by status (migration 0010); the
            # open ones come from the index above (a prosumer's few, sorted)
            (("trader_address", "placed_seq"), False),
            (("trader_address", "status", "placed_seq"), False),
        )


# "is_active = TRUE" as SQL, for queries on the book.
ORDER_IS_ACTIVE = EnergyOrder.is_active == True  # noqa: E712


# The ladder (`reads.book_statements`): each of the top price levels of a side summed
# from this index alone, without reading a row per resting order (migration 0025). A
# realistic book holds ~170 orders a level: reading their rows cost 6-7 ms a side on
# SQLite at 100,000 resting orders, this index 1.2 ms. Named: Peewee's own name for it
# is 64 characters, one more than PostgreSQL keeps.
EnergyOrder.add_index(
    EnergyOrder.is_active,
    EnergyOrder.order_type,
    EnergyOrder.price_per_kwh,
    EnergyOrder.expires_at,
    EnergyOrder.energy_amount,
    EnergyOrder.filled_amount,
    EnergyOrder.trader_address,
    name="energy_orders_book_levels",
)


class EnergyTrade(BaseModel):
    id = UUIDField(primary_key=True, default=new_id)
    buy_order = ForeignKeyField(
        EnergyOrder, column_name="buy_order_id", null=True, backref="buy_trades"
    )
    sell_order = ForeignKeyField(
        EnergyOrder, column_name="sell_order_id", null=True, backref="sell_trades"
    )
    # indexed with seq below (migration 0010 replaced the single-column indexes)
    buyer_address = CharField(max_length=100)
    seller_address = CharField(max_length=100)
    energy_amount = EnergyField()
    price_per_kwh = PriceField()
    total_price = MoneyField()
    executed_at = DateTimeField(default=_now, index=True)
    # ours
    fee = MoneyField()
    buyer_total = MoneyField()
    taker_side = CharField(max_length=4, null=True)
    seq = BigIntegerField(default=0, index=True)  # execution sequence: the tape's order

    class Meta:
        table_name = "energy_trades"
        indexes = (
            # a prosumer's trades, newest first, on each side; executed_at in the index
            # filters a time window without reading the rows (migration 0010)
            (("buyer_address", "seq", "executed_at"), False),
            (("seller_address", "seq", "executed_at"), False),
        )


class MarketStatistics(BaseModel):
    id = AutoField()
    date = DateField(unique=True)
    total_trades = IntegerField(default=0)
    total_volume = EnergyField()
    average_price = PriceField()
    highest_price = PriceField()
    lowest_price = PriceField()
    active_buy_orders = IntegerField(default=0)
    active_sell_orders = IntegerField(default=0)
    created_at = DateTimeField(default=_now)
    # ours: sum of amount x price, exact, so that average_price is a true VWAP
    notional = ExactDecimalField(24, 6)

    class Meta:
        table_name = "market_statistics"


class MarketCandle(BaseModel):
    """OHLCV of the trades in one `seconds`-wide bucket (15 min, 1 h, 1 day: CANDLE_SIZES)
    from `bucket_start` (naive UTC), kept in the same transaction as each trade, as the
    daily statistics are; `stats rebuild` recomputes and checks them. Open and close are
    the prices of the trades `first_seq` and `last_seq` (the tape's order)."""

    id = AutoField()
    seconds = IntegerField()
    bucket_start = DateTimeField()
    open_price = PriceField()
    high_price = PriceField()
    low_price = PriceField()
    close_price = PriceField()
    volume = EnergyField()
    trades = IntegerField(default=0)
    first_seq = BigIntegerField(default=0)
    last_seq = BigIntegerField(default=0)

    class Meta:
        table_name = "market_candles"
        indexes = ((("seconds", "bucket_start"), True),)


CANDLE_SIZES = (900, 3600, 86400)


class AuditLog(BaseModel):
    id = BigAutoField()
    created_at = DateTimeField(default=_now, index=True)
    event_type = CharField(max_length=50, index=True)
    user = ForeignKeyField(User, column_name="user_id", null=True, backref="audit_logs")
    api_key = ForeignKeyField(ApiKey, column_name="api_key_id", null=True)
    ip_address = CharField(max_length=64, null=True)
    event_data = TextField(default="{}")  # JSON
    actor = CharField(max_length=100, default="")  # who, as text: "os:alice", "user:bob"
    outcome = CharField(max_length=10, default="success")  # success | failure | denied

    class Meta:
        table_name = "audit_logs"


class Session(BaseModel):
    id = UUIDField(primary_key=True, default=new_id)
    user = ForeignKeyField(User, column_name="user_id", backref="sessions")
    token_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=_now)
    last_seen = DateTimeField(default=_now)
    ended_at = DateTimeField(null=True)
    end_reason = CharField(max_length=20, null=True)
    ip_address = CharField(max_length=64, null=True)

    class Meta:
        table_name = "sessions"


class MeterReading(BaseModel):
    id = BigAutoField()
    prosumer = ForeignKeyField(Prosumer, column_name="prosumer_address", backref="readings")
    energy_generated = EnergyField()
    energy_consumed = EnergyField()
    recorded_at = DateTimeField(default=_now, index=True)
    recorded_by = CharField(max_length=100, default="")

    class Meta:
        table_name = "meter_readings"


class MarketState(BaseModel):
    """One row. Locked by every matching transaction on PostgreSQL/MySQL (SQLite's
    IMMEDIATE transactions already serialize writers); `version` moves on every change
    to the book or the tape, so screens poll it cheaply."""

    id = IntegerField(primary_key=True)
    order_seq = BigIntegerField(default=0)
    trade_seq = BigIntegerField(default=0)
    version = BigIntegerField(default=0)
    open_buy_orders = IntegerField(default=0)
    open_sell_orders = IntegerField(default=0)
    updated_at = DateTimeField(default=_now)
    # The market rules (DESIGN §3), read with the lock by every placement; changed by an
    # admin (`market rules set`), which moves `version`. Defaults: the settings'.
    grid_fee_rate = ExactDecimalField(5, 4, default=Decimal("0.0500"))
    grid_operator_address = CharField(max_length=100, default="grid-operator")
    order_ttl_hours = IntegerField(default=24)
    min_order_value = MoneyField(default=Decimal("0.01"))
    price_band_percent = ExactDecimalField(7, 2, default=Decimal("20.00"))
    grid_import_price = PriceField(default=Decimal("0.2500"))
    # Trades up to this sequence settled before the rules were the database's (each
    # client used its own settings): `market check` does not hold them to the rules.
    rules_from_trade_seq = BigIntegerField(default=0)

    class Meta:
        table_name = "market_state"


class PriceAlert(BaseModel):
    """A user's one-shot alert on the trade price crossing a level (migration 0009).

    Fires on the first trade after it was set (`seq > after_seq`) at or beyond `price`,
    marked by whichever process checks the trades since the alerts' watermark
    (`PriceAlertWatermark`): a conditional UPDATE (`fired_at IS NULL`) lets exactly one
    of them mark it; every terminal of the user then shows it."""

    id = UUIDField(primary_key=True, default=new_id)
    user = ForeignKeyField(User, column_name="user_id", backref="price_alerts")
    direction = CharField(
        max_length=5, constraints=[SQL("CHECK (direction IN ('above', 'below'))")]
    )
    price = PriceField()
    created_at = DateTimeField(default=_now)
    fired_at = DateTimeField(null=True)
    fired_price = PriceField(null=True, default=None)  # the price of the trade that crossed
    # the newest trade's seq when it was set: only later trades (seq > after_seq) fire it
    after_seq = BigIntegerField(default=0)

    class Meta:
        table_name = "price_alerts"
        indexes = (
            # the firing check: unfired alerts of one direction by level
            (("fired_at", "direction", "price"), False),
            # this user's alerts: the list, the cap, what fired since a terminal looked
            (("user", "fired_at"), False),
        )


class PriceAlertWatermark(BaseModel):
    """One row: trades up to `checked_seq` have been checked against every alert waiting
    then (migration 0009). A check claims the trades after it with a conditional UPDATE
    (`checked_seq = what it read`), fires what they reached in the same transaction, so
    each stretch of the tape is checked by one process; adding an alert locks this row,
    so no alert appears inside a stretch being checked. Not in MODELS: machinery."""

    id = IntegerField(primary_key=True)
    checked_seq = BigIntegerField(default=0)

    class Meta:
        table_name = "price_alert_watermark"


class AuditSecret(BaseModel):
    """One row: this database's key for the audit log's keyed hashes (HMAC-SHA256), made
    on first need. Not in MODELS: machinery of the audit log (migration 0006), not data."""

    id = IntegerField(primary_key=True)
    secret = CharField(max_length=64)  # hex of 32 random bytes
    created_at = DateTimeField(default=_now)

    class Meta:
        table_name = "audit_secret"


class ApiClientOrder(BaseModel):
    """The HTTP API's idempotency record (migration 0013): which order a user's
    `client_order_id` placed, so that a retried request returns that order instead of
    placing another. Written in the placement's own transaction. Not in MODELS: the API's
    machinery, not market data."""

    id = BigAutoField()
    user = ForeignKeyField(User, column_name="user_id", backref="client_orders")
    client_order_id = CharField(max_length=64)
    order_id = UUIDField(null=True)
    created_at = DateTimeField(default=_now)

    class Meta:
        table_name = "api_client_orders"
        indexes = ((("user", "client_order_id"), True),)


class ApiRateLimit(BaseModel):
    """The HTTP API's rate limits (migration 0015), shared by every worker process and
    host on this database: per limited name (a client address or a hash of a
    credential) the time its allowance is next full, in microseconds since the epoch
    (GCRA, a token bucket kept as one number; see services/rate_limits). Not in MODELS."""

    name = CharField(max_length=80, primary_key=True)
    tat = BigIntegerField()  # "theoretical arrival time": when the bucket is full again
    cap = BigIntegerField()  # the latest tat the last request could reach
    allowed = IntegerField()  # 1 if the last request was let through, else 0

    class Meta:
        table_name = "api_rate_limits"


class SchemaVersion(BaseModel):
    version = IntegerField(primary_key=True)
    name = CharField(max_length=100)
    applied_at = DateTimeField(default=_now)

    class Meta:
        table_name = "schema_version"


# Dependency order (referenced tables first).
MODELS: tuple[type[BaseModel], ...] = (
    Prosumer,
    User,
    ApiKey,
    EnergyOrder,
    EnergyTrade,
    MarketStatistics,
    MarketCandle,
    AuditLog,
    Session,
    MeterReading,
    MarketState,
    PriceAlert,
)
