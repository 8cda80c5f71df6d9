"""Idempotent placement for the HTTP API: a `client_order_id` names one order per user.

The record (`api_client_orders`, unique per user and id) is written in the same
transaction as the order, before it: a retry that comes while the first request is
still placing waits on the unique index (PostgreSQL, MySQL) or on the write lock
(SQLite) and then finds the first order; a placement that fails leaves no record, so
the corrected request may use the same id.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

from peewee import IntegrityError

from energy_tui import clock
from energy_tui.db.models import ApiClientOrder, db
from energy_tui.errors import Conflict, ValidationError
from energy_tui.services.context import Actor
from energy_tui.services.market import book
from energy_tui.services.market.book import TradeView
from energy_tui.services.market.views import OrderView, PlaceResult


@dataclasses.dataclass(frozen=True)
class Replay:
    """The order an earlier request with the same client_order_id placed, as it is now."""

    order: OrderView
    fills: list[TradeView]


def placed_before(actor: Actor, client_order_id: str) -> Replay | None:
    order_id = _recorded(_owner(actor), client_order_id)
    if order_id is None:
        return None
    return Replay(book.order_with_average(order_id), book.order_fills(order_id))


def place_once(
    actor: Actor, client_order_id: str, place: Callable[[], PlaceResult]
) -> PlaceResult | Replay:
    """`place()` recorded under `client_order_id`, or the order already recorded."""
    user = _owner(actor)
    earlier = placed_before(actor, client_order_id)
    if earlier is not None:
        return earlier
    try:
        with db.atomic():
            row = ApiClientOrder.create(
                user=user, client_order_id=client_order_id, created_at=clock.now()
            )
            result = place()
            ApiClientOrder.update(order_id=result.order.id).where(
                ApiClientOrder.id == row.id
            ).execute()
        return result
    except IntegrityError:
        earlier = placed_before(actor, client_order_id)
        if earlier is None:
            raise Conflict(
                f"client_order_id {client_order_id!r} is being placed by another request: "
                "try again in a moment"
            ) from None
        return earlier


def _owner(actor: Actor) -> uuid.UUID:
    if actor.user_id is None:
        raise ValidationError(
            "client_order_id needs a user's key or login", field="client_order_id"
        )
    return actor.user_id


def _recorded(user: uuid.UUID, client_order_id: str) -> uuid.UUID | None:
    row = (
        ApiClientOrder.select(ApiClientOrder.order_id)
        .where((ApiClientOrder.user == user) & (ApiClientOrder.client_order_id == client_order_id))
        .first()
    )
    return row.order_id if row is not None else None
