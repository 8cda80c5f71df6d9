"""Helpers shared by the market tests: traders, orders, a frozen clock, snapshots."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from energy_tui.db.models import AuditLog, EnergyOrder, EnergyTrade, MarketStatistics, Prosumer
from energy_tui.services import keys, prosumers, users
from energy_tui.services.context import Actor
from energy_tui.services.market import MarketRules, PlaceResult, order_request, place_order
from energy_tui.services.market import rules as market_rules
from energy_tui.services.prosumers import Balances

RULES = MarketRules()  # what a new test database holds (the settings' defaults)
OPERATOR = Actor(label="os:test-operator", role="admin")


def trader(address: str, watt: str = "0", energy: str = "0") -> Actor:
    """A prosumer with `watt` WATT deposited and `energy` kWh generated, and its trader."""
    prosumers.add_prosumer(OPERATOR, address, address.title())
    if Decimal(watt):
        prosumers.deposit(OPERATOR, address, watt)
    if Decimal(energy):
        prosumers.add_meter_reading(OPERATOR, address, generated=energy)
    return Actor(label=f"user:{address}", role="trader", username=address, prosumer_address=address)


def place(
    actor: Actor,
    side: str,
    amount: str,
    price: str,
    *,
    ioc: bool = False,
    fok: bool = False,
    market: bool = False,
    expires: str | None = None,
) -> PlaceResult:
    """Place an order as typed; for a market order `price` is its cap ("" for none)."""
    request = order_request(side, amount, price, ioc=ioc, fok=fok, market=market, expires=expires)
    return place_order(actor, request)


def set_rule(name: str, value: str) -> None:
    """Change one of the database's market rules, as an admin would."""
    market_rules.set_rule(OPERATOR, name, value)


def balances(address: str) -> Balances:
    return prosumers.balances(address)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What a rejected request must leave unchanged."""

    orders: int
    trades: int
    audit: int
    stats: int
    balances: tuple[Balances, ...]
    order_rows: tuple[tuple[object, ...], ...]


def snapshot() -> Snapshot:
    rows = EnergyOrder.select(
        EnergyOrder.id,
        EnergyOrder.status,
        EnergyOrder.filled_amount,
        EnergyOrder.watt_reserved,
        EnergyOrder.is_active,
    ).order_by(EnergyOrder.id)
    return Snapshot(
        EnergyOrder.select().count(),
        EnergyTrade.select().count(),
        AuditLog.select().count(),
        MarketStatistics.select().count(),
        tuple(Balances.of(row) for row in Prosumer.select().order_by(Prosumer.address)),
        tuple(rows.tuples()),
    )


def audit_events(event_type: str) -> list[AuditLog]:
    return list(AuditLog.select().where(AuditLog.event_type == event_type).order_by(AuditLog.id))


def key_for(address: str, permissions: str = "read,trade", role: str = "trader") -> str:
    """A user named `address`, trading for that prosumer, and a new API key of theirs."""
    users.add_user(
        OPERATOR,
        address,
        f"{address}@example.org",
        "a long enough password",
        rounds=4,
        role=role,
        prosumer_address=address,
    )
    return keys.create_key(OPERATOR, address, "tests", permissions).key
