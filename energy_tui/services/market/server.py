"""PostgreSQL: a placement (and a cancel, a cancel-all, the sweep) as one call of a
server function.

Migration 0014 installs the functions. `energy_tui_place_order` runs the whole of
`orders.place_order` (the market lock, expiry, the self-cross rule, the hold, matching,
settlement, fee, trades, audit, statistics, candles, the change marker) in the
database; `energy_tui_cancel_order`, `energy_tui_cancel_all` and `energy_tui_sweep` do
the same for `orders.cancel_order` (once its permission checks passed here),
`cancel_all` and `sweep_expired`; `energy_tui_amend_order` (0017) for
`orders.amend_order`. Migration 0019 gives place and amend one shared matching loop
(`energy_tui_match`) and writer of trades, statistics and candles
(`energy_tui_record_fills`), and the rules the app's own calls need: a market order at
the default cap the user was shown (`shown_cap`: refused if the band read under the
lock no longer holds it) and a cancel-all bounded by the newest order the user saw
(`up_to_placed_seq`, with `left_newer`); and the fat-finger guard's judgement of an
unconfirmed amendment (`energy_tui_guard`: a stop is SQLSTATE ET005, raised here as
`guard.Unconfirmed`). Outside a caller's transaction a call is one
statement in autocommit: one round trip, and the market lock is released when the
statement ends. Its refusals come back as SQLSTATEs of
class ET with the message the Python path gives, raised here as the same errors.

With `COMBINED` (on by default), a placement outside a caller's transaction goes
through migration 0020 (`_combined`): alone, it is the same one call; while another
writer places, it queues and is placed with the others queued meanwhile in one
transaction, one commit (one WAL flush) for the batch, each order still in arrival order
and refused on its own. A writer (a thread: its connection) that met no other writer in
its last `CALM` placements calls `energy_tui_place_order` itself, without 0020's wrapper
(which cost a lone placement about 4%); it goes through the queue again as soon as it
meets another writer.

`ENABLED` turns it off (the Python path then runs on PostgreSQL too): the
differential test compares the two, the benchmarks can measure both.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from decimal import Decimal
from typing import Any

from energy_tui import clock
from energy_tui.db.connect import backend_of
from energy_tui.db.failures import cause
from energy_tui.db.models import db
from energy_tui.errors import (
    Conflict,
    InsufficientFunds,
    LimitExceeded,
    NotFound,
    ValidationError,
)
from energy_tui.services.context import Actor
from energy_tui.services.market import limits
from energy_tui.services.market.views import CancelAll, Fill, OrderView, PlaceResult

ENABLED = True
# True: outside a caller's transaction a placement goes through migration 0020's
# combining functions (the orders of writers that queue meanwhile placed in one
# commit). On since session 9: on a quiet 2-core machine (docs/scale.md, session 9) its
# 8 writers placed as many orders a second as 8 writers one call each (0.99x), its lone
# writer 1.05x a direct one, and only it keeps p99 within 5x p50 at 8 writers (3.8
# against 7.9; p99 45 ms against 73). `benchmarks/combining.py` measures both.
COMBINED = True
# With COMBINED, a writer alone calls `energy_tui_place_order` directly: 0020's wrapper
# (`energy_tui_place_first`: a try-lock, a look at the queue, its rows copied into its
# own result, six more columns) cost a lone placement 35-60 us of server time, +5% of
# client CPU and +7% at p50 (docs/scale.md). Alone means: its last CALM placements met
# no other writer (none queued or combined with others, and the market lock taken within
# MET seconds); it goes through the queue again after the first placement that met one.
CALM = 8
MET = 0.00025


class _Recent(threading.local):
    """What this thread's (its connection's) last placements met: how many in a row
    found no other writer."""

    calm = 0


_recent = _Recent()

# SQLSTATE raised by the function -> the error the Python path raises
ERRORS: dict[str, type[ValidationError]] = {
    "ET001": ValidationError,
    "ET002": InsufficientFunds,
    "ET003": Conflict,
    "ET004": NotFound,
    "ET006": LimitExceeded,  # past a column's precision (migration 0031)
}
# numeric_value_out_of_range: a write past a column's precision that no check of the
# functions foresaw (migration 0031 checks what a settlement adds): refused all the same
_OUT_OF_RANGE = "22003"


_AMEND = (
    "SELECT * FROM energy_tui_amend_order(%s::uuid, %s::numeric, %s::numeric, %s::boolean, "
    "%s::numeric, %s::numeric, %s::timestamp, %s::uuid, %s::uuid, %s::text, %s::text)"
)

_ARGUMENTS = (
    "%s::uuid, %s::text, %s::text, %s::numeric, %s::numeric, %s::text, %s::timestamp, "
    "%s::text, %s::timestamp, %s::uuid, %s::uuid, %s::text, %s::text"
)
_FIRST = f"SELECT * FROM energy_tui_place_first({_ARGUMENTS})"
_WAIT = "SELECT * FROM energy_tui_place_wait(%s::uuid)"
_WITHDRAW = "SELECT * FROM energy_tui_place_withdraw(%s::uuid)"
# the columns after a placement's rows in what those functions return: the request's id
# when it was queued, a refusal stored for it (SQLSTATE, message, detail, hint), and its
# place in the batch its commit placed (1: first, or alone)
_QUEUED, _ERROR, IN_BATCH = 19, 20, 24
_LOCK_WAIT = 18  # the order row's: seconds until the market lock was taken (or waited)

_PLACE = (
    "SELECT * FROM energy_tui_place_order(%s::uuid, %s::text, %s::text, %s::numeric, "
    "%s::numeric, %s::text, %s::timestamp, %s::text, %s::timestamp, %s::uuid, %s::uuid, "
    "%s::text, %s::text)"
)
# the same with `p_shown_cap` (migration 0019): the 13-argument call above still works
_PLACE_AT_SHOWN_CAP = _PLACE[:-1] + ", %s::boolean)"


def available() -> bool:
    """Whether placements go to the server's function here (PostgreSQL)."""
    return ENABLED and backend_of(db) == "postgres"


def place(
    actor: Actor,
    address: str,
    order_id: uuid.UUID,
    side: str,
    amount: Decimal,
    price: Decimal | None,
    tif: str,
    expires_at: dt.datetime | None,
    kind: str,
    now: dt.datetime,
    shown_cap: bool = False,
) -> PlaceResult:
    """Place one order by the server's function; the result as `place_order`'s.
    `shown_cap`: `price` is the default cap the user was shown (`OrderRequest.shown_cap`),
    refused if the band read under the lock no longer contains it."""
    params = (
        order_id,
        address,
        side,
        amount,
        price,
        tif,
        expires_at,
        kind,
        now,
        actor.user_id,
        actor.api_key_id,
        actor.ip_address,
        actor.label[:100],
    )
    if shown_cap:  # the combining queue (0020) carries no shown cap: one call each
        rows = _call((*params, True), _PLACE_AT_SHOWN_CAP)
    elif COMBINED and not db.in_transaction():
        rows = _combined(params)
    else:
        rows = _call(params)
    *fills, order = rows
    view = OrderView(
        order[1],
        address,
        side,
        order[3],
        order[4],
        order[5],
        order[2],
        tif,
        now,
        order[9],
        order[6],
        kind,
        order[7],
        placed_seq=int(order[8]),
    )
    return PlaceResult(view, [_fill(row, now) for row in fills])


def amend(
    actor: Actor,
    order_id: uuid.UUID,
    price: Decimal | None,
    amount: Decimal | None,
    confirmed: bool,
    expected: tuple[Decimal, Decimal] | None,
    now: dt.datetime,
) -> PlaceResult:
    """Amend an order its caller may amend (`orders.amend_order`, migrations 0017 and
    0019); `guard.Unconfirmed` when the fat-finger guard stops it (not `confirmed`)."""
    params = (
        order_id,
        price,
        amount,
        confirmed,
        *(expected if expected is not None else (None, None)),
        now,
        *_who(actor),
    )
    *fills, order = _call(params, _AMEND)
    view = OrderView(
        order[1],
        order[18],
        order[19],
        order[3],
        order[4],
        order[5],
        order[2],
        order[20],
        order[21],
        order[9],
        order[6],
        order[22] or "limit",
        order[7],
        placed_seq=int(order[23] or 0),
    )
    return PlaceResult(view, [_fill(row, now) for row in fills])


def sweep(now: dt.datetime) -> int:
    """Expire due orders now (`orders.sweep_expired`); return how many."""
    return int(_call((now,), "SELECT energy_tui_sweep(%s::timestamp)")[0][0])


def cancel(actor: Actor, order_id: uuid.UUID, reason: str, now: dt.datetime) -> OrderView:
    """Cancel an open order its caller may cancel (`orders.cancel_order`)."""
    sql = (
        "SELECT * FROM energy_tui_cancel_order(%s::uuid, %s::text, %s::timestamp, %s::uuid, "
        "%s::uuid, %s::text, %s::text)"
    )
    cursor = _cursor(sql, (order_id, reason, now, *_who(actor)))
    names = [column[0] for column in cursor.description]
    return _view(dict(zip(names, cursor.fetchone(), strict=True)))


def cancel_all(
    actor: Actor, address: str, side: str | None, reason: str, up_to_placed_seq: int | None
) -> CancelAll:
    """Cancel every open order of `address` (of one side; placed up to `up_to_placed_seq`
    if given, the others counted in `left_newer`), as `orders.cancel_all`."""
    sql = (
        "SELECT * FROM energy_tui_cancel_all(%s::text, %s::text, %s::text, %s::timestamp, "
        "%s::uuid, %s::uuid, %s::text, %s::text, %s::bigint)"
    )
    params = (address, side, reason, clock.now(), *_who(actor), up_to_placed_seq)
    cursor = _cursor(sql, params)
    names = [column[0] for column in cursor.description]
    *rows, total = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    watt, energy = Decimal("0.00"), Decimal("0.00")
    for row in rows:
        watt += row["held"]
        if row["order_type"] == "sell":
            energy += row["energy_amount"] - row["filled_amount"]
    return CancelAll([_view(row) for row in rows], watt, energy, int(total["left_newer"]))


def _who(actor: Actor) -> tuple[Any, ...]:
    return actor.user_id, actor.api_key_id, actor.ip_address, actor.label[:100]


def _view(row: dict[str, Any]) -> OrderView:
    return OrderView(
        row["id"],
        row["trader_address"],
        row["order_type"],
        row["energy_amount"],
        row["price_per_kwh"],
        row["filled_amount"],
        row["status"],
        row["time_in_force"],
        row["created_at"],
        row["expires_at"],
        row["watt_reserved"],
        row["kind"] or "limit",
        row["status_reason"],
        placed_seq=int(row["placed_seq"] or 0),
    )


def _call(params: tuple[Any, ...], sql: str = _PLACE) -> list[tuple[Any, ...]]:
    return list(_cursor(sql, params).fetchall())


def _combined(params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Place through migration 0020: `energy_tui_place_first` places at once when no
    other writer is placing (one round trip, as `_call`); else it queues the order and
    commits (the queue is unlogged: no WAL flush), and `energy_tui_place_wait` waits
    until a batch placed it with the others queued meanwhile, in one commit, or places
    that batch itself. The same rows as `_call`, and the same errors: a refusal stored
    for this order is raised here as the function would have raised it. A writer that
    has been alone (`CALM`) makes the direct call instead."""
    if _recent.calm >= CALM:
        rows = _call(params)
        _met(float(rows[-1][_LOCK_WAIT] or 0) > MET)
        return rows
    rows = _call(params, _FIRST)
    queued = rows[0][_QUEUED] is not None
    if queued:
        order_id = params[0]
        try:
            rows = _call((order_id,), _WAIT)
        except BaseException as exc:
            # cancelled, interrupted, or the batch failed as a whole: take the order back
            # (never placed behind the caller's back), unless a batch placed it meanwhile:
            # then that is the answer
            rows = _withdraw(order_id)
            if not rows or not isinstance(exc, Exception):
                raise
    last = rows[-1]
    _met(queued or (last[IN_BATCH] or 1) > 1 or float(last[_LOCK_WAIT] or 0) > MET)
    if last[_ERROR] is not None:
        raise _stored_error(*last[_ERROR : _ERROR + 4])
    return rows


def _met(other_writer: bool) -> None:
    _recent.calm = 0 if other_writer else _recent.calm + 1


def _withdraw(order_id: uuid.UUID) -> list[tuple[Any, ...]]:
    try:
        return _call((order_id,), _WITHDRAW)
    except Exception:  # the connection is gone: so is its session, and the order with it
        return []


def _stored_error(state: str, message: str, detail: str | None, hint: str | None) -> Exception:
    """The error a direct call would have raised for a refusal the batch stored."""
    if state == _OUT_OF_RANGE:
        return limits.refuse(limits.STORED)
    kind = ERRORS.get(state)
    if kind is not None:
        return kind(message, field=hint or None)
    try:  # another SQLSTATE: raised by the server again, to come as the driver raises it
        db.execute_sql(
            "SELECT energy_tui_raise(%s::text, %s::text, %s::text, %s::text)",
            (state, message, detail, hint),
        )
    except Exception as exc:
        return exc
    return RuntimeError(f"{state}: {message}")


def _cursor(sql: str, params: tuple[Any, ...]) -> Any:
    """One statement: in autocommit when no transaction is open (its own transaction,
    one round trip), else in a savepoint of the caller's, so that a refusal undoes only
    this call and leaves the caller's transaction usable (as a refusal of the Python
    path does)."""
    if db.in_transaction():
        with db.atomic():
            return _execute(sql, params)
    return _execute(sql, params)


def _execute(sql: str, params: tuple[Any, ...]) -> Any:
    try:
        return db.execute_sql(sql, params)
    except Exception as exc:
        domain = _domain_error(exc)
        if domain is None:
            raise
        raise domain from None


def _domain_error(exc: BaseException) -> Exception | None:
    # Peewee's wrapper keeps the driver's error as its first argument
    first = exc.args[0] if exc.args else None
    error = first if isinstance(first, BaseException) else cause(exc)
    # psycopg 3 names the SQLSTATE `sqlstate`, psycopg2 `pgcode`; both have `diag`
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    diag = getattr(error, "diag", None)
    if state == "ET005":
        return _unconfirmed(json.loads(getattr(diag, "message_detail", None) or "{}"))
    if state == _OUT_OF_RANGE:
        return limits.refuse(limits.STORED)
    kind = ERRORS.get(state or "")
    if kind is None:
        return None
    message = getattr(diag, "message_primary", None) or str(error)
    field = getattr(diag, "message_hint", None) or None
    return kind(message, field=field)


def _unconfirmed(judged: dict[str, Any]) -> Exception:
    """SQLSTATE ET005: the fat-finger guard stopped an amendment (migration 0019); its
    DETAIL holds the guard's figures, as `guard.assess` gives them."""
    from energy_tui.services.market import guard  # both import this module
    from energy_tui.services.market.orders import OrderRequest

    request = OrderRequest(judged["side"], Decimal(judged["amount"]), Decimal(judged["price"]))
    reference = guard.Reference(Decimal(judged["reference"]), judged["source"])
    caution = guard.Caution(
        request,
        Decimal(judged["base"]),
        Decimal(judged["fee"]),
        Decimal(judged["commit"]),
        Decimal(judged["available"]),
        judged["unit"],
        reference,
        tuple(judged["reasons"]),
    )
    return guard.Unconfirmed(caution)


def _fill(row: tuple[Any, ...], now: dt.datetime) -> Fill:
    return Fill(
        row[1],
        row[10],
        row[11],
        row[12],
        row[13],
        row[3],
        row[4],
        row[14],
        row[15],
        row[16],
        row[17],
        now,
        int(row[8]),
    )
