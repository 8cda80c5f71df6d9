"""The market rules (DESIGN §3): the database's, shared by every client.

They are columns of the one `market_state` row, which every placement reads with the
market lock anyway (`sql.lock_market`): a placement gets the rules at no extra round
trip, and a change (made under the same lock, moving the change marker) applies from
the next placement on, in every client. Only an admin changes them; each change is
audited with the old and the new value. The settings of the same names only seed a
new database (migration 0005).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from energy_tui import clock
from energy_tui.config import MAX_TTL_HOURS, Settings
from energy_tui.db.identity import same_text
from energy_tui.db.models import MarketState, Prosumer, db
from energy_tui.errors import ValidationError
from energy_tui.services import audit, validation
from energy_tui.services.context import Actor
from energy_tui.services.market.money import MarketRules
from energy_tui.services.market.sql import RULE_COLUMNS, dec, lock_market, run
from energy_tui.services.permissions import Action, require
from energy_tui.terms import RULE_SETTINGS

CHANGED_EVENT = "market_rule_changed"
_RATE = Decimal("0.0001")
_CENT = Decimal("0.01")


def _rate(raw: str) -> Decimal:
    return validation.decimal_value(
        raw, "GRID_FEE_RATE", places=4, max_digits=4, allow_zero=True, unit="(0 turns it off)"
    )


def _ttl(raw: str) -> int:
    # ASCII digits only: str.isdigit() also passes '²', which int() then refuses
    return validation.whole_number(raw, "ORDER_TTL_HOURS", minimum=0, maximum=MAX_TTL_HOURS)


def _receiver(raw: str) -> str:
    return validation.address(raw)


def _tariff(raw: str) -> Decimal:
    return validation.decimal_value(
        raw, "GRID_IMPORT_PRICE", places=4, max_digits=10, allow_zero=True, unit="WATT/kWh"
    )


def _band(raw: str) -> Decimal:
    return validation.decimal_value(
        raw, "PRICE_BAND_PERCENT", places=2, max_digits=7, unit="percent"
    )


def _min_value(raw: str) -> Decimal:
    # at least a cent: a positive trade never settles below 0.01 WATT (DESIGN §3)
    return validation.decimal_value(raw, "MIN_ORDER_VALUE", places=2, max_digits=15, unit="WATT")


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str  # as the setting that seeds it
    field: str  # of MarketRules
    column: str  # of market_state
    meaning: str
    parse: Callable[[str], Any]  # what an admin typed -> the value; ValidationError


RULES: tuple[Rule, ...] = (
    Rule(
        "GRID_FEE_RATE",
        "fee_rate",
        "grid_fee_rate",
        "grid fee rate the buyer pays on each trade (rounded up to the cent)",
        _rate,
    ),
    Rule(
        "GRID_OPERATOR_ADDRESS",
        "grid_operator_address",
        "grid_operator_address",
        "prosumer that receives the grid fees",
        _receiver,
    ),
    Rule(
        "ORDER_TTL_HOURS",
        "order_ttl_hours",
        "order_ttl_hours",
        "default order lifetime in hours (0: no expiry)",
        _ttl,
    ),
    Rule(
        "MIN_ORDER_VALUE",
        "min_order_value",
        "min_order_value",
        "smallest order value in WATT at its limit",
        _min_value,
    ),
    Rule(
        "PRICE_BAND_PERCENT",
        "price_band_percent",
        "price_band_percent",
        "fat-finger band around the market price, in percent",
        _band,
    ),
    Rule(
        "GRID_IMPORT_PRICE",
        "grid_import_price",
        "grid_import_price",
        "utility tariff in WATT per kWh (savings vs grid)",
        _tariff,
    ),
)
assert tuple(rule.name for rule in RULES) == RULE_SETTINGS


def rules_of(values: Sequence[Any]) -> MarketRules:
    """MarketRules from the values of `sql.RULE_COLUMNS`, in that order."""
    rate, ttl, receiver, tariff, band, minimum = values
    return MarketRules(
        dec(rate, _RATE),
        int(ttl),
        str(receiver),
        dec(tariff, _RATE),
        dec(band, _CENT),
        dec(minimum, _CENT),
    )


def current() -> MarketRules:
    """The market's rules as stored now (for previews, screens and `market rules`)."""
    row = run(f"SELECT {RULE_COLUMNS} FROM market_state WHERE id = 1").fetchone()
    if row is None:
        return MarketRules()
    return rules_of(row)


def find(name: str) -> Rule:
    wanted = (name or "").strip().upper()
    for rule in RULES:
        if rule.name == wanted:
            return rule
    raise ValidationError(
        f"unknown market rule {name[:40]!r}: expected one of "
        f"{', '.join(rule.name for rule in RULES)}",
        field="name",
    )


def value_of(rules: MarketRules, rule: Rule) -> Any:
    return getattr(rules, rule.field)


def as_dict(rules: MarketRules) -> dict[str, Any]:
    """{NAME: value}, in the order of RULES."""
    return {rule.name: value_of(rules, rule) for rule in RULES}


@dataclasses.dataclass(frozen=True)
class RuleChange:
    name: str
    old: Any
    new: Any


def set_rule(actor: Actor, name: str, raw: str) -> RuleChange:
    """Change one rule (admins only); effective for the next placement everywhere."""
    require(actor, Action.MANAGE_MARKET_RULES, rule=str(name)[:40])
    rule = find(name)
    value = rule.parse(raw)
    with db.atomic():
        row = lock_market()  # no placement runs half under the old rule
        old = value_of(rules_of(row[6:]), rule)
        if rule.field == "grid_operator_address":
            _check_receiver(value)
        MarketState.update(
            {
                getattr(MarketState, rule.column): value,
                MarketState.version: MarketState.version + 1,
                MarketState.updated_at: clock.now(),
            }
        ).where(MarketState.id == 1).execute()
        audit.record(
            CHANGED_EVENT, actor, rule=rule.name, old=old, new=value, after_trade_seq=int(row[1])
        )
    return RuleChange(rule.name, old, value)


def _check_receiver(address: str) -> None:
    """Fees go to a grid operator's prosumer (made on first use), never to a trader."""
    row = Prosumer.get_or_none(same_text(Prosumer.address, address))  # in any case
    if row is not None and row.kind != "grid_operator":
        raise ValidationError(
            f"{address} is a {row.kind} prosumer: the fee receiver must be a grid_operator "
            "prosumer or a new address",
            field="GRID_OPERATOR_ADDRESS",
        )


def ignored_settings(settings: Settings) -> list[str]:
    """The rule settings given outside the defaults (environment, .env, config file):
    they no longer change the market once the database holds its rules."""
    sources: Mapping[str, str] = settings.sources
    return [name for name in RULE_SETTINGS if sources.get(name, "default") != "default"]


def ignored_notice(settings: Settings) -> str | None:
    """One line saying which given settings the database's rules override, or None."""
    names = ignored_settings(settings)
    if not names:
        return None
    where = sorted({settings.sources[name] for name in names})
    return (
        f"note: the database's market rules are used, not {', '.join(names)} "
        f"(from {', '.join(where)}): these settings only seed a new database "
        "(see `energy-tui market rules`)"
    )
