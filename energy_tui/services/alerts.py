"""Price alerts (issue 12): a user's one-shot alert on the trade price crossing a
level, stored per user in `price_alerts` (migration 0009).

What fires. An alert fires on the first trade made after it was set that reaches its
level (above: price >= level; below: price <= level), whenever that trade was made and
whoever looked: a spike that crosses the level and comes back within one poll, or while
no terminal is open, still fires it, at that trade's price (`fired_price`). An alert
records the newest trade's seq when it was set (`after_seq`): earlier trades never fire it.

Checking. Whoever sees the market's change marker (`book.version()`) move calls `check`
(`alert list` fires due alerts too). The alerts' watermark (`PriceAlertWatermark`) says
up to which trade seq the alerts were checked; a check looks only at the trades after it,
an indexed range on `energy_trades.seq`: their highest and lowest price decide at once
for the alerts set before the range, and an alert set inside it is checked on the trades
after its own seq. A check that finds something due claims the range (a conditional
UPDATE of the watermark from what it read to the newest seq: one process wins, the others
read again) and marks the due alerts in the same transaction with one conditional UPDATE
(`... WHERE fired_at IS NULL`), so exactly one process marks each alert. A check that
finds nothing due is a read (it leaves the watermark where it is, which is always safe)
unless the range has grown past WATERMARK_LAG trades; then it claims it, to keep checks
short. Adding an alert locks the watermark row, so no alert appears in a range while
another process checks it. The caller then gets its own alerts fired since a moment, so
every terminal of that user shows it.

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
from typing import Any

from peewee import SQL, fn

from energy_tui import clock
from energy_tui.db.locking import for_update
from energy_tui.db.models import (
    ALERT_DIRECTIONS,
    EnergyTrade,
    PriceAlert,
    PriceAlertWatermark,
    User,
    db,
)
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
    newest = _newest_trade()
    return newest[1] if newest is not None else None


def _newest_trade() -> tuple[int, Decimal] | None:
    """(seq, price) of the last trade."""
    t = EnergyTrade
    row = t.select(t.seq, t.price_per_kwh).order_by(t.seq.desc()).limit(1).first()
    return (int(row.seq), row.price_per_kwh) if row is not None else None


def _reached(direction: str, price: Decimal, last: Decimal) -> bool:
    return last >= price if direction == "above" else last <= price


def add(actor: Actor, direction: str, price: str | Decimal) -> AlertView:
    """A new alert of `actor`'s, for trades after the last one. Refused if the last price
    is already at or beyond the level (nothing would cross it: the next trade at that
    price would fire it; most likely the wrong direction) or the user already has
    MAX_WAITING alerts waiting."""
    direction, level = alert_request(direction, price)
    user_id = _user_id(actor)
    with db.atomic():
        for_update(User.select(User.id).where(User.id == user_id)).execute()  # the cap, exact
        # no check is marking a range of trades while this alert appears (see the module)
        checked = _watermark(lock=True)
        newest = _newest_trade()
        if newest is not None and _reached(direction, level, newest[1]):
            where = "at or above" if direction == "above" else "at or below"
            other = "below" if direction == "above" else "above"
            raise ValidationError(
                f"the last price {newest[1]} is already {where} {level}: an alert fires"
                f" when a trade crosses its level (set one {other} {level} instead?)",
                field="price",
            )
        waiting = _waiting(user_id).count()
        if waiting >= MAX_WAITING:
            raise ValidationError(
                f"you have {waiting} alerts waiting, the most allowed: remove one first",
                field="price",
            )
        after = max(newest[0] if newest is not None else 0, checked)
        row = PriceAlert.create(user=user_id, direction=direction, price=level, after_seq=after)
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


WATERMARK_LAG = 500  # trades a check that finds nothing due may leave behind the watermark


@dataclasses.dataclass(frozen=True)
class _Range:
    """The trades a check looks at: seq in (checked, newest], and of them the ones after
    the oldest waiting alert (`lower`), with their highest and lowest price."""

    checked: int
    newest: int
    lower: int
    high: Decimal
    low: Decimal


def _watermark(*, lock: bool = False) -> int:
    """The alerts' watermark (made at 0 if its row is missing: the migration makes it)."""
    w = PriceAlertWatermark
    query = w.select(w.checked_seq).where(w.id == 1)
    row = (for_update(query) if lock else query).first()
    if row is None:
        w.insert(id=1, checked_seq=0).on_conflict_ignore().execute()
        row = (for_update(query) if lock else query).first()
    return int(row.checked_seq)


def _range(checked: int, newest: int) -> _Range | None:
    """What the trades in (checked, newest] may fire; None when no alert can fire."""
    a, t = PriceAlert, EnergyTrade
    oldest = a.select(fn.MIN(a.after_seq)).where(a.fired_at.is_null()).scalar()
    if oldest is None:
        return None
    lower = max(checked, int(oldest))  # trades before every waiting alert fire none
    if lower >= newest:
        return None
    high, low = (
        t.select(fn.MAX(t.price_per_kwh), fn.MIN(t.price_per_kwh))
        .where((t.seq > lower) & (t.seq <= newest))
        .tuples()
        .first()
    ) or (None, None)
    if high is None or low is None:
        return None
    exact = t.price_per_kwh.python_value  # SQLite's MAX of its REALs: quantized back
    return _Range(checked, newest, lower, exact(high), exact(low))


def _crossing(r: _Range, t: Any) -> Any:
    """Trades `t` of the range made after the alert was set that reach its level (in a
    query over `price_alerts`)."""
    a = PriceAlert
    reaches = ((a.direction == "above") & (t.price_per_kwh >= a.price)) | (
        (a.direction == "below") & (t.price_per_kwh <= a.price)
    )
    return (t.seq > r.checked) & (t.seq > a.after_seq) & (t.seq <= r.newest) & reaches


def _due(r: _Range) -> Any:
    """Waiting alerts that a trade of the range reached: for those set before the range
    the range's extremes decide; one set inside it needs a trade after its own seq."""
    a, t = PriceAlert, EnergyTrade.alias("t")
    extreme = ((a.direction == "above") & (a.price <= r.high)) | (
        (a.direction == "below") & (a.price >= r.low)
    )
    inside = fn.EXISTS(t.select(SQL("1")).where(_crossing(r, t)))
    return (
        a.fired_at.is_null()
        & (a.after_seq < r.newest)
        & extreme
        & ((a.after_seq <= r.checked) | inside)
    )


def _mark(r: _Range) -> int:
    """Mark fired every alert due in the range, each at the price of its first crossing."""
    a, t = PriceAlert, EnergyTrade.alias("t")
    first = t.select(t.price_per_kwh).where(_crossing(r, t)).order_by(t.seq).limit(1)
    return int(a.update(fired_at=clock.now(), fired_price=first).where(_due(r)).execute())


def fire_due() -> int:
    """Mark fired every waiting alert (any user's) that a trade since it was set has
    reached; return how many this call marked. Safe to run from many processes at once:
    each range of trades is claimed by one (the watermark's conditional UPDATE) and each
    alert's UPDATE is conditional on `fired_at IS NULL`."""
    w = PriceAlertWatermark
    for _attempt in range(5):
        checked, newest = _watermark(), _newest_trade()
        if newest is None or newest[0] <= checked:
            return 0
        found = _range(checked, newest[0])
        if found is None:  # no alert waits on these trades: the watermark's lag is harmless
            return 0
        # Most checks find nothing due: a read then, not a write (on SQLite an UPDATE
        # takes the database's one write lock even when it matches no row).
        short = found.newest - found.lower <= WATERMARK_LAG
        if short and not PriceAlert.select(PriceAlert.id).where(_due(found)).exists():
            return 0
        with db.atomic():
            claimed = (
                w.update(checked_seq=found.newest)
                .where((w.id == 1) & (w.checked_seq == checked))
                .execute()
            )
            if not claimed:  # another process checked (part of) these trades: read again
                continue
            # Now no alert can appear in the range (adding one waits for this lock):
            # look again at what waits, then mark.
            claimed_range = _range(checked, found.newest)
            return _mark(claimed_range) if claimed_range is not None else 0
    return 0


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
