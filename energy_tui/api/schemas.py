"""The JSON shapes of the API (Pydantic models: they make the OpenAPI schemas).

Amounts are exact decimal strings ("12.50", never floats); times are ISO 8601 in UTC
with a `Z`. Lists are pages: `items` and `next_cursor` (null on the last page).
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field

from energy_tui.db.fields import ENERGY_PLACES, MONEY_PLACES
from energy_tui.errors import ValidationError
from energy_tui.services.audit import AuditEntry
from energy_tui.services.keys import KeyInfo, Revoked
from energy_tui.services.market.book import Book, Level, Preview, TradeView
from energy_tui.services.market.money import MarketRules
from energy_tui.services.market.views import Fill, OrderView
from energy_tui.services.prosumers import Balances, Reading
from energy_tui.services.users import UserInfo

T = TypeVar("T")
DecimalText = str  # documented per field: an exact decimal as a string


def iso(moment: dt.datetime | None) -> str | None:
    """A naive UTC time as ISO 8601 with `Z`."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _fixed(value: Decimal, places: int) -> str:
    """With the column's places ("0.00", not "0", for a value made in memory)."""
    return str(value.quantize(Decimal(1).scaleb(-places)))


def json_response(model: BaseModel, status: int = 200) -> Response:
    """`model` as the JSON FastAPI would send for it, built here: a hot endpoint (an
    order's placement) skips the response model's second validation and serialization
    pass, which a model the endpoint has just built and validated does not need. The
    route still declares its `response_model` for the OpenAPI document."""
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


# --- cursors ---------------------------------------------------------------------------


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


# The largest position a cursor may name: 18 digits, so that the position and a page
# past it stay within a signed 64-bit integer (BIGINT, SQLite's INTEGER), which a
# 19-digit one (up to 9999999999999999999) overflowed as a 500 of the database driver.
CURSOR_DIGITS = 18


def decode_cursor(raw: str | None, kind: str) -> int | None:
    """The position a `next_cursor` stands for; ValidationError for anything else."""
    if raw is None or raw == "":
        return None
    try:
        padded = raw + "=" * (-len(raw) % 4)
        found, _, value = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        if found == kind and value.isascii() and value.isdigit() and len(value) <= CURSOR_DIGITS:
            return int(value)
    except (ValueError, UnicodeError):
        pass
    raise ValidationError(
        "the cursor is not one this list gave: pass `next_cursor` from the previous page as is",
        field="cursor",
    )


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page"
    )


# --- market ------------------------------------------------------------------------------


class LevelOut(BaseModel):
    price: DecimalText = Field(examples=["0.1200"])
    quantity: DecimalText = Field(examples=["10.000"])
    orders: int
    cumulative: DecimalText

    @classmethod
    def of(cls, level: Level) -> LevelOut:
        return cls(
            price=str(level.price),
            quantity=str(level.quantity),
            orders=level.orders,
            cumulative=str(level.cumulative),
        )


class BookOut(BaseModel):
    bids: list[LevelOut] = Field(description="best (highest) first")
    asks: list[LevelOut] = Field(description="best (lowest) first")
    best_bid: DecimalText | None
    best_ask: DecimalText | None
    spread: DecimalText | None
    mid: DecimalText | None
    last_price: DecimalText | None
    version: int = Field(description="the market's change marker when the book was read")

    @classmethod
    def of(cls, b: Book) -> BookOut:
        return cls(
            bids=[LevelOut.of(level) for level in b.bids],
            asks=[LevelOut.of(level) for level in b.asks],
            best_bid=text(b.best_bid),
            best_ask=text(b.best_ask),
            spread=text(b.spread),
            mid=text(b.mid),
            last_price=text(b.last_price),
            version=b.version,
        )


class TradeOut(BaseModel):
    id: str
    seq: int
    executed_at: str = Field(examples=["2026-11-30T20:00:00Z"])
    amount: DecimalText = Field(examples=["4.000"], description="kWh")
    price: DecimalText = Field(examples=["0.1200"], description="WATT per kWh")
    total: DecimalText = Field(examples=["0.48"], description="WATT, amount x price")
    fee: DecimalText = Field(examples=["0.03"], description="grid fee the buyer pays")
    buyer_total: DecimalText = Field(examples=["0.51"])
    buyer_address: str
    seller_address: str
    taker_side: str | None
    side: str | None = Field(
        None, description="in my trades and my orders' fills: whether I bought or sold"
    )

    @classmethod
    def of(cls, t: TradeView | Fill, address: str | None = None) -> TradeOut:
        side = None
        if address is not None:
            side = "buy" if address == t.buyer_address else "sell"
        return cls(
            id=str(t.id),
            seq=t.seq,
            executed_at=iso(t.executed_at) or "",
            amount=str(t.amount),
            price=str(t.price),
            total=str(t.total),
            fee=str(t.fee),
            buyer_total=str(t.buyer_total),
            buyer_address=t.buyer_address,
            seller_address=t.seller_address,
            taker_side=t.taker_side,
            side=side,
        )


class DayStatsOut(BaseModel):
    date: str = Field(examples=["2026-11-30"])
    trades: int
    volume: DecimalText
    average_price: DecimalText
    highest_price: DecimalText
    lowest_price: DecimalText
    active_buy_orders: int
    active_sell_orders: int

    @classmethod
    def of(cls, row: Any) -> DayStatsOut:
        return cls(
            date=str(row.date),
            trades=row.total_trades,
            volume=str(row.total_volume),
            average_price=str(row.average_price),
            highest_price=str(row.highest_price),
            lowest_price=str(row.lowest_price),
            active_buy_orders=row.active_buy_orders,
            active_sell_orders=row.active_sell_orders,
        )


class CandleOut(BaseModel):
    start: str
    open: DecimalText
    high: DecimalText
    low: DecimalText
    close: DecimalText
    volume: DecimalText
    trades: int


class RulesOut(BaseModel):
    grid_fee_rate: DecimalText = Field(examples=["0.0500"])
    grid_operator_address: str
    order_ttl_hours: int
    min_order_value: DecimalText
    price_band_percent: DecimalText
    grid_import_price: DecimalText

    @classmethod
    def of(cls, r: MarketRules) -> RulesOut:
        return cls(
            grid_fee_rate=str(r.fee_rate),
            grid_operator_address=r.grid_operator_address,
            order_ttl_hours=r.order_ttl_hours,
            min_order_value=str(r.min_order_value),
            price_band_percent=str(r.price_band_percent),
            grid_import_price=str(r.grid_import_price),
        )


# --- orders ----------------------------------------------------------------------------


class OrderIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "side": "buy",
                    "amount": "4",
                    "price": "0.15",
                    "time_in_force": "gtc",
                    "client_order_id": "bot-7-000123",
                }
            ]
        },
    )
    side: Literal["buy", "sell"]
    amount: str = Field(description="kWh, a decimal string", max_length=40)
    price: str | None = Field(
        None,
        description="limit price in WATT per kWh; for a market order its cap (optional: "
        "the market's default cap)",
        max_length=40,
    )
    type: Literal["limit", "market"] = Field(
        "limit", description="market: trade now at the book's prices up to the cap, never rest"
    )
    time_in_force: Literal["gtc", "ioc", "fok"] = Field(
        "gtc",
        description="gtc: rest until filled, cancelled or expired; ioc: fill what it can at "
        "once, cancel the rest; fok: fill all at once or nothing. A market order is ioc "
        "unless fok.",
    )
    expires: str | None = Field(
        None,
        max_length=40,
        description="a duration such as 12h, 90d or 2w, or a UTC date/date-time; "
        "default: the market's ORDER_TTL_HOURS",
    )
    client_order_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="your id for this order: a retried request with the same id returns "
        "the order it placed instead of placing another",
    )
    confirm: bool = Field(
        False,
        description="place it even if the fat-finger guard asks (price far from the "
        "market, or a large share of what is available)",
    )
    default_cap: str | None = Field(
        None,
        max_length=40,
        description="a market order without price: the default cap a preview showed "
        "(its `cap`), to be placed at that cap and no other; refused (422) if the "
        "market's price band has since moved away from it",
    )


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    side: Literal["buy", "sell"]
    amount: str = Field(max_length=40)
    price: str | None = Field(
        None, max_length=40, description="the limit; a market order's cap (optional)"
    )
    type: Literal["limit", "market"] = "limit"


class OrderOut(BaseModel):
    id: str
    trader_address: str
    side: str
    amount: DecimalText
    price: DecimalText
    filled: DecimalText
    remaining: DecimalText
    status: str = Field(examples=["open", "partially_filled", "filled", "cancelled", "expired"])
    time_in_force: str
    type: str = Field(description="limit or market (a market order's price is its cap)")
    reason: str | None = Field(description="why it was cancelled, killed or expired")
    average_price: DecimalText | None = Field(
        None, description="average price of its fills (in order reads and lists)"
    )
    created_at: str
    expires_at: str | None
    watt_reserved: DecimalText
    placed_seq: int = Field(
        description="when it was placed, in the market's order (up_to_placed_seq of cancel-all)"
    )

    @classmethod
    def of(cls, o: OrderView) -> OrderOut:
        return cls(
            id=str(o.id),
            trader_address=o.trader_address,
            side=o.side,
            amount=str(o.amount),
            price=str(o.price),
            filled=_fixed(o.filled, ENERGY_PLACES),
            remaining=_fixed(o.remaining, ENERGY_PLACES),
            status=o.status,
            time_in_force=o.time_in_force,
            type=o.kind,
            reason=o.reason,
            average_price=text(o.average_price),
            created_at=iso(o.created_at) or "",
            expires_at=iso(o.expires_at),
            watt_reserved=_fixed(o.watt_reserved, MONEY_PLACES),
            placed_seq=o.placed_seq,
        )


class PlacedOut(BaseModel):
    order: OrderOut
    fills: list[TradeOut]
    client_order_id: str | None = None
    replayed: bool = Field(
        False, description="true when this is the first result of an earlier request"
    )


class AmendIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"price": "0.2300"}, {"amount": "5"}]}
    )
    price: str | None = Field(None, max_length=40, description="the new limit price")
    amount: str | None = Field(
        None,
        max_length=40,
        description="the new total amount (kWh); smaller keeps the order's place in the "
        "queue, a new price or a larger amount goes to the back",
    )
    confirm: bool = Field(False, description="amend even if the fat-finger guard asks")


class AmendedOut(BaseModel):
    order: OrderOut
    fills: list[TradeOut]
    kept_place: bool = Field(description="whether the order kept its time priority")


class CancelAllOut(BaseModel):
    cancelled: int
    left_newer: int = Field(
        description="open orders placed after up_to_placed_seq, left untouched (0 without it)"
    )
    orders: list[OrderOut]
    released_watt: DecimalText
    released_energy: DecimalText


class OrderDetailOut(BaseModel):
    order: OrderOut
    fills: list[TradeOut]


class PreviewOut(BaseModel):
    side: str
    amount: DecimalText
    price: DecimalText
    base_cost: DecimalText
    fee: DecimalText
    total: DecimalText
    grid_cost: DecimalText
    savings: DecimalText
    fill_now: DecimalText
    fill_price: DecimalText | None
    fill_cost: DecimalText
    available: DecimalText
    enough: bool
    own_cross: DecimalText | None
    fee_rate: DecimalText
    cap: DecimalText | None = Field(
        None, description="a market order's cap, as given or by default (its default_cap)"
    )
    cap_note: str | None = Field(None, description="where a default cap comes from")

    @classmethod
    def of(cls, p: Preview) -> PreviewOut:
        return cls(
            side=p.side,
            amount=str(p.amount),
            price=str(p.price),
            base_cost=str(p.base_cost),
            fee=str(p.fee),
            total=str(p.total),
            grid_cost=str(p.grid_cost),
            savings=str(p.savings),
            fill_now=str(p.fill_now),
            fill_price=text(p.fill_price),
            fill_cost=str(p.fill_cost),
            available=str(p.available),
            enough=p.enough,
            own_cross=text(p.own_cross),
            fee_rate=str(p.fee_rate),
            cap=text(p.cap),
            cap_note=p.cap_note or None,
        )


# --- account -----------------------------------------------------------------------------


class BalancesOut(BaseModel):
    address: str
    name: str
    kind: str
    watt_total: DecimalText
    watt_reserved: DecimalText
    watt_available: DecimalText
    energy_generated: DecimalText
    energy_consumed: DecimalText
    energy_bought: DecimalText
    energy_sold: DecimalText
    energy_reserved: DecimalText
    energy_available: DecimalText

    @classmethod
    def of(cls, b: Balances) -> BalancesOut:
        return cls(
            address=b.address,
            name=b.name,
            kind=b.kind,
            watt_total=str(b.watt_total),
            watt_reserved=str(b.watt_reserved),
            watt_available=str(b.watt_available),
            energy_generated=str(b.energy_generated),
            energy_consumed=str(b.energy_consumed),
            energy_bought=str(b.energy_bought),
            energy_sold=str(b.energy_sold),
            energy_reserved=str(b.energy_reserved),
            energy_available=str(b.energy_available),
        )


class ReadingIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"generated": "2.5", "consumed": "0.8"}]},
    )
    generated: str = Field("0", max_length=40, description="kWh generated since the last one")
    consumed: str = Field("0", max_length=40, description="kWh consumed since the last one")


class ReadingsIn(BaseModel):
    """One reading, or `readings`: a batch, written all or nothing."""

    model_config = ConfigDict(extra="forbid")
    generated: str | None = Field(None, max_length=40)
    consumed: str | None = Field(None, max_length=40)
    readings: list[ReadingIn] | None = Field(None, max_length=1000)


class ReadingOut(BaseModel):
    recorded_at: str
    energy_generated: DecimalText
    energy_consumed: DecimalText
    recorded_by: str

    @classmethod
    def of(cls, r: Reading) -> ReadingOut:
        return cls(
            recorded_at=iso(r.recorded_at) or "",
            energy_generated=str(r.energy_generated),
            energy_consumed=str(r.energy_consumed),
            recorded_by=r.recorded_by,
        )


class ReadingsOut(BaseModel):
    recorded: int
    balances: BalancesOut


# --- operators and admins ----------------------------------------------------------------


class ProsumerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Field(max_length=200, examples=["alice-house"])
    name: str = Field(max_length=400, examples=["Alice House"])
    kind: str = Field("residential", max_length=40)


class AmountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: str = Field(max_length=40, description="WATT, a decimal string", examples=["100"])


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=200)
    email: str = Field(max_length=400)
    password: str = Field(max_length=1000, description="never stored or logged in plain text")
    role: str = Field("trader", max_length=40)
    prosumer: str | None = Field(None, max_length=200)


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(max_length=40, examples=["operator"])


class UserOut(BaseModel):
    username: str
    email: str
    role: str
    is_active: bool
    prosumer_address: str | None
    created_at: str
    last_login: str | None
    locked_until: str | None

    @classmethod
    def of(cls, u: UserInfo) -> UserOut:
        return cls(
            username=u.username,
            email=u.email,
            role=u.role,
            is_active=u.is_active,
            prosumer_address=u.prosumer_address,
            created_at=iso(u.created_at) or "",
            last_login=iso(u.last_login),
            locked_until=iso(u.locked_until),
        )


class KeyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"user": "alice", "name": "battery", "permissions": ["read", "trade"]}]
        },
    )
    user: str = Field(max_length=200)
    name: str = Field(max_length=200)
    permissions: list[str] = Field(
        default_factory=lambda: ["read"],
        max_length=8,
        description="of read, trade, manage, meter",
    )
    expires: str | None = Field(None, max_length=40, description="e.g. 90d, 2027-01-31")


class KeyOut(BaseModel):
    id: str
    prefix: str | None
    name: str
    owner: str | None
    permissions: list[str]
    status: str
    created_at: str
    expires_at: str | None
    last_used: str | None
    revoked_at: str | None
    made_by: str | None = Field(
        None, description="the prefix of the key that made it (none: a login or the operator)"
    )

    @classmethod
    def of(cls, k: KeyInfo) -> KeyOut:
        return cls(
            id=str(k.id),
            prefix=k.prefix,
            name=k.name,
            owner=k.owner,
            permissions=list(k.permissions),
            status=k.status,
            created_at=iso(k.created_at) or "",
            expires_at=iso(k.expires_at),
            last_used=iso(k.last_used),
            revoked_at=iso(k.revoked_at),
            made_by=k.made_by,
        )


class RevokedKeyOut(KeyOut):
    made_with: list[KeyOut] = Field(
        description="the keys made with it, and with those, revoked with it now"
    )
    message: str

    @classmethod
    def of_revoked(cls, revoked: Revoked) -> RevokedKeyOut:
        return cls(
            **KeyOut.of(revoked.key).model_dump(),
            made_with=[KeyOut.of(k) for k in revoked.made_with],
            message=revoked.message,
        )


class CreatedKeyOut(BaseModel):
    key: str = Field(description="the whole key: shown this once, never again")
    info: KeyOut


class AuditOut(BaseModel):
    id: int
    created_at: str
    event_type: str
    actor: str
    username: str | None
    ip_address: str | None
    outcome: str
    data: dict[str, Any]

    @classmethod
    def of(cls, e: AuditEntry) -> AuditOut:
        return cls(
            id=e.id,
            created_at=iso(e.created_at) or "",
            event_type=e.event_type,
            actor=e.actor,
            username=e.username,
            ip_address=e.ip_address,
            outcome=e.outcome,
            data=e.data,
        )


# --- auth ----------------------------------------------------------------------------------


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_at: str
    username: str
    role: str


class WhoAmIOut(BaseModel):
    actor: str
    username: str | None
    role: str
    prosumer_address: str | None
    permissions: list[str] | None = Field(description="the key's; null for a login session")


class Message(BaseModel):
    status: str
    detail: str | None = None


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None
