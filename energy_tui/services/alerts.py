"""Price alerts (issue 12): a user's one-shot alert on the last trade price crossing a
level, stored per user in `price_alerts` (migration 0009).

Firing. Whoever sees the market's change marker (`book.version()`) move calls `check`:
it fires every due alert of every user against the last trade price (above: last >=
level; below: last <= level) with one conditional UPDATE (`... WHERE fired_at IS NULL`),
so that exactly one process marks each alert fired however many terminals run the
check at once (the row lock of the UPDATE makes the others skip it), and then returns
the caller's own alerts fired since a moment, so every terminal of that user shows it.
Listing fires due alerts first too, so a CLI-only user sees the truth.

Who. Reading the market is enough (the `read` key scope; viewers too): an alert changes
nothing in the market, only what its owner is told. Alerts are personal: a user lists
and removes only their own (admins included: silencing someone's alerts is not an
administrative act; disabling the user stops their terminals anyway).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal

from energy_tui import clock
from energy_tui.db.locking import for_update
from energy_tui.db.models import ALERT_DIRECTIONS, EnergyTrade, PriceAlert, User, db
from energy_tui.errors import NotFound, ValidationError
from energy_tui.services import audit
from energy_tui.services.context import Actor
from energy_tui.services.market.orders import price_value
from energy_tui.services.permissions import Action, require

MAX_WAITING = 50  # unfired alerts per user: plenty for a trader, no table flood by a script


@dataclasses.dataclass(frozen=True)
class AlertView:
    id: uuid.UUID
    direction: str  # above | below
    price: Decimal
    created_at: dt.datetime
    fired_at: dt.datetime | None
    fired_price: Decimal | None

    @property
    def status(self) -> str:
        return "fired" if self.fired_at is not None else "waiting"

    def describe(self) -> str:
        """One line for a toast or a CLI message."""
        level = f"last price {self.direction} {self.price} WATT/kWh"
        if self.fired_at is None:
            return f"alert: {level}"
        return f"alert: {level}: traded at {self.fired_price}"

    @classmethod
    def of(cls, row: PriceAlert) -> AlertView:
        return cls(row.id, row.direction, row.price, row.created_at, row.fired_at, row.fired_price)


# --- input ---------------------------------------------------------------------------


def direction_value(raw: str) -> str:
    value = (raw or "").strip().lower()
    if value not in ALERT_DIRECTIONS:
        raise ValidationError(
            f"direction {raw[:20]!r} is not valid: expected above or below", field="direction"
        )
    return value


def alert_request(direction: str, price: str | Decimal) -> tuple[str, Decimal]:
    """What was typed, checked before anything connects: (direction, price)."""
    return direction_value(direction), price_value(price)


def alert_id(raw: str | uuid.UUID) -> uuid.UUID:
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw).strip())
    except ValueError:
        raise ValidationError(
            f"{str(raw)[:40]!r} is not an alert id (a UUID, as `alert list` shows it)",
            field="alert",
        ) from None


def _user_id(actor: Actor) -> uuid.UUID:
    require(actor, Action.READ_MARKET, what="price alerts")
    if actor.user_id is None:
        raise ValidationError(
            "price alerts belong to a user: log in, or give a user's API key "
            "(ENERGY_TUI_API_KEY or --api-key-file)"
        )
    return actor.user_id


# --- add, list, remove -----------------------------------------------------------------


def last_price() -> Decimal | None:
    row = (
        EnergyTrade.select(EnergyTrade.price_per_kwh)
        .order_by(EnergyTrade.seq.desc())
        .limit(1)
        .first()
    )
    return row.price_per_kwh if row is not None else None


def _due(direction: str, price: Decimal, last: Decimal) -> bool:
    return last >= price if direction == "above" else last <= price


def add(actor: Actor, direction: str, price: str | Decimal) -> AlertView:
    """A new alert of `actor`'s. Refused if the last price is already at or beyond the
    level (it would fire at once: most likely the wrong direction) or the user already
    has MAX_WAITING alerts waiting."""
    direction, level = alert_request(direction, price)
    user_id = _user_id(actor)
    last = last_price()
    if last is not None and _due(direction, level, last):
        where = "at or above" if direction == "above" else "at or below"
        raise ValidationError(
            f"the last price {last} is already {where} {level}: the alert would fire at once",
            field="price",
        )
    with db.atomic():
        for_update(User.select(User.id).where(User.id == user_id)).execute()  # the cap, exact
        waiting = _waiting(user_id).count()
        if waiting >= MAX_WAITING:
            raise ValidationError(
                f"you have {waiting} alerts waiting, the most allowed: remove one first",
                field="price",
            )
        row = PriceAlert.create(user=user_id, direction=direction, price=level)
        audit.record("price_alert_added", actor, alert_id=row.id, direction=direction, price=level)
    return AlertView.of(row)


def _waiting(user_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return PriceAlert.select().where((PriceAlert.user == user_id) & PriceAlert.fired_at.is_null())


def list_alerts(actor: Actor, *, include_fired: bool = False) -> list[AlertView]:
    """`actor`'s alerts, waiting ones by level, then (with include_fired) the fired ones,
    newest first. Due alerts are fired first, so the list is as the market is now."""
    user_id = _user_id(actor)
    fire_due()
    query = PriceAlert.select().where(PriceAlert.user == user_id)
    if not include_fired:
        query = query.where(PriceAlert.fired_at.is_null())
    rows = list(query)
    waiting = sorted((r for r in rows if r.fired_at is None), key=lambda r: (-r.price, r.id))
    fired = sorted((r for r in rows if r.fired_at is not None), key=lambda r: r.fired_at)
    return [AlertView.of(row) for row in waiting + fired[::-1]]


def remove(actor: Actor, raw_id: str | uuid.UUID) -> AlertView:
    """Delete one of `actor`'s own alerts (waiting or fired)."""
    wanted = alert_id(raw_id)
    user_id = _user_id(actor)
    with db.atomic():
        row = PriceAlert.get_or_none((PriceAlert.id == wanted) & (PriceAlert.user == user_id))
        if row is None:  # someone else's is not named as such: ids are not to be probed
            raise NotFound(f"you have no alert with id {wanted}", field="alert")
        PriceAlert.delete().where(PriceAlert.id == row.id).execute()
        audit.record(
            "price_alert_removed",
            actor,
            alert_id=row.id,
            direction=row.direction,
            price=row.price,
            fired=row.fired_at is not None,
        )
    return AlertView.of(row)


# --- firing ----------------------------------------------------------------------------


def fire_due(last: Decimal | None = None) -> int:
    """Mark fired every waiting alert (any user's) that the last trade price has reached;
    return how many this call marked. Safe to run from many processes at once: the
    UPDATE is conditional on `fired_at IS NULL`, so each alert is marked by one only."""
    last = last_price() if last is None else last
    if last is None:
        return 0
    a = PriceAlert
    due = a.fired_at.is_null() & (
        ((a.direction == "above") & (a.price <= last))
        | ((a.direction == "below") & (a.price >= last))
    )
    # Most checks find nothing due: a read then, not a write (on SQLite an UPDATE takes
    # the database's one write lock even when it matches no row).
    if not a.select(a.id).where(due).exists():
        return 0
    return int(a.update(fired_at=clock.now(), fired_price=last).where(due).execute())


def fired_since(actor: Actor, since: dt.datetime) -> list[AlertView]:
    """`actor`'s alerts fired at or after `since`, oldest first."""
    user_id = _user_id(actor)
    rows = (
        PriceAlert.select()
        .where((PriceAlert.user == user_id) & (PriceAlert.fired_at >= since))
        .order_by(PriceAlert.fired_at, PriceAlert.id)
    )
    return [AlertView.of(row) for row in rows]


def check(actor: Actor, since: dt.datetime) -> list[AlertView]:
    """What a terminal runs when the market's marker moved: fire what is due (whoever's),
    then `actor`'s alerts fired since `since` (the terminal shows those it has not)."""
    fire_due()
    return fired_since(actor, since)
