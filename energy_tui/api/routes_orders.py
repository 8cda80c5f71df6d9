"""/api/v1/orders: place (idempotent with client_order_id), preview, list, get, cancel."""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from energy_tui import clock
from energy_tui.api.context import Api
from energy_tui.api.problems import StateConflict
from energy_tui.api.routes_market import api_of
from energy_tui.api.schemas import (
    AmendedOut,
    AmendIn,
    CancelAllOut,
    OrderDetailOut,
    OrderIn,
    OrderOut,
    Page,
    PlacedOut,
    PreviewIn,
    PreviewOut,
    TradeOut,
    decode_cursor,
    encode_cursor,
    json_response,
)
from energy_tui.api.strict import StrictRoute
from energy_tui.errors import PermissionDenied, ValidationError
from energy_tui.services import audit, client_orders
from energy_tui.services.audit import parse_since
from energy_tui.services.context import Actor
from energy_tui.services.market import (
    OrderRequest,
    PlaceResult,
    amend_order,
    cancel_all,
    guard,
    order_request,
    own_address,
    place_order,
)
from energy_tui.services.market import book as market_book
from energy_tui.services.market import cancel_order as cancel
from energy_tui.services.market.orders import amount_value, price_value
from energy_tui.services.market.views import OrderView
from energy_tui.services.permissions import Action, allows

router = APIRouter(prefix="/api/v1/orders", tags=["orders"], route_class=StrictRoute)
BIGINT_MAX = 2**63 - 1  # placed_seq is a BIGINT: a larger number overflowed the driver (500)
OrderId = Annotated[str, Path(max_length=64, description="the order's id (a UUID)")]


@router.post(
    "",
    response_model=PlacedOut,
    status_code=201,
    summary="Place an order: limit or market; GTC, IOC or FOK",
    responses={200: {"model": PlacedOut, "description": "a retry: the first result"}},
)
async def place(request: Request, body: OrderIn) -> Response:
    api = api_of(request)

    def work(actor: Actor) -> tuple[PlacedOut, int]:
        if (
            body.type == "market"
            and body.time_in_force == "gtc"
            and "time_in_force" in (body.model_fields_set)
        ):
            raise ValidationError(
                "a market order never rests: its time_in_force is ioc (the default) or fok",
                field="time_in_force",
            )
        try:
            wanted = order_request(
                body.side,
                body.amount,
                body.price,
                ioc=body.time_in_force == "ioc",
                fok=body.time_in_force == "fok",
                market=body.type == "market",
                expires=body.expires,
            )
        except ValidationError as exc:
            if exc.field == "expiry":
                exc.field = "expires"  # the body's name for it
            raise
        wanted = _at_default_cap(wanted, body.default_cap)
        if body.client_order_id is None:
            return placed(_guarded_place(api, actor, wanted, body.confirm), None), 201
        outcome = client_orders.place_once(
            actor, body.client_order_id, lambda: _guarded_place(api, actor, wanted, body.confirm)
        )
        if isinstance(outcome, PlaceResult):
            return placed(outcome, body.client_order_id), 201
        _same_order(outcome.order, wanted, body.client_order_id)
        first = PlacedOut(
            order=OrderOut.of(outcome.order),
            fills=[TradeOut.of(t, outcome.order.trader_address) for t in outcome.fills],
            client_order_id=body.client_order_id,
            replayed=True,
        )
        return first, 200

    def placed(result: PlaceResult, client_id: str | None) -> PlacedOut:
        api.metrics.placed(result)
        return PlacedOut(
            order=OrderOut.of(market_book.placed_with_average(result)),
            fills=[TradeOut.of(f, result.order.trader_address) for f in result.fills],
            client_order_id=client_id,
            replayed=False,
        )

    result, status = await api.call(request, work, Action.TRADE_OWN)
    return json_response(result, status)


def _at_default_cap(wanted: OrderRequest, cap: str | None) -> OrderRequest:
    """A market order at the default cap its preview showed (`default_cap`)."""
    if cap is None:
        return wanted
    if wanted.kind != "market" or wanted.price is not None:
        raise ValidationError(
            "default_cap is for a market order without price: the cap its preview showed",
            field="default_cap",
        )
    try:
        shown = price_value(cap)
    except ValidationError as exc:
        raise ValidationError(f"default_cap: {exc}", field="default_cap") from None
    return dataclasses.replace(wanted, price=shown, shown_cap=True)


def _guarded_place(api: Api, actor: Actor, wanted: OrderRequest, confirmed: bool) -> PlaceResult:
    """The fat-finger guard as the CLI has it (`confirm` for --yes), then the market."""
    guard.require_safe(own_address(actor), wanted, confirmed)
    started = time.perf_counter()
    result = place_order(actor, wanted)
    api.metrics.placement_seconds.observe(time.perf_counter() - started)
    return result


def _same_order(order: OrderView, wanted: OrderRequest, client_id: str) -> None:
    # the time in force too: a FOK retried as GTC is another order, not the first again
    placed = (order.side, order.amount, order.kind, order.time_in_force)
    same = placed == (wanted.side, wanted.amount, wanted.kind, wanted.time_in_force)
    if not same or (wanted.price is not None and order.price != wanted.price):
        raise StateConflict(
            f"client_order_id {client_id!r} already placed another order ({order.side} "
            f"{order.amount} kWh at {order.price} {order.time_in_force.upper()}, id "
            f"{order.id}): use a new id for a new order",
            field="client_order_id",
        )


@router.post("/preview", response_model=PreviewOut, summary="What an order would cost and fill")
async def preview(request: Request, body: PreviewIn) -> PreviewOut:
    def work(actor: Actor) -> PreviewOut:
        market = body.type == "market"
        amount = amount_value(body.amount)
        price = None if market and body.price is None else price_value(body.price or "")
        found = market_book.preview(actor.prosumer_address, body.side, amount, price, market=market)
        return PreviewOut.of(found)

    return await api_of(request).call(request, work, Action.READ_MARKET)


@router.get(
    "", response_model=Page[OrderOut], summary="My orders, newest first, with average prices"
)
async def list_orders(
    request: Request,
    status: Annotated[
        Literal["open", "filled", "cancelled", "expired", "all"],
        Query(description="open includes partially filled orders"),
    ] = "open",
    since: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> Page[OrderOut]:
    def work(actor: Actor) -> Page[OrderOut]:
        found = market_book.order_history(
            own_address(actor),
            status=status,
            since=parse_since(since, clock.now()),
            limit=limit + 1,
            before_placed=decode_cursor(cursor, "order"),
        )
        more = len(found) > limit
        last = found[limit - 1].placed_seq if more else None
        return Page[OrderOut](
            items=[OrderOut.of(o) for o in found[:limit]],
            next_cursor=encode_cursor("order", last) if last is not None else None,
        )

    return await api_of(request).call(request, work, Action.READ_MARKET)


@router.get("/{order_id}", response_model=OrderDetailOut, summary="One of my orders, with fills")
async def get_order(request: Request, order_id: OrderId) -> OrderDetailOut:
    def work(actor: Actor) -> OrderDetailOut:
        order = market_book.order_with_average(_mine(actor, order_id).id)
        fills = market_book.order_fills(order.id)
        mine = [TradeOut.of(t, order.trader_address) for t in fills]
        return OrderDetailOut(order=OrderOut.of(order), fills=mine)

    return await api_of(request).call(request, work, Action.READ_MARKET)


def _mine(actor: Actor, order_id: str) -> OrderView:
    order = market_book.get_order(order_id)
    if order.trader_address != actor.prosumer_address and not allows(
        actor, Action.MANAGE_PROSUMERS
    ):
        audit.record(
            "permission_denied", actor, outcome="denied", action="read order", order_id=order.id
        )
        raise PermissionDenied(f"order {order.id} is not yours")
    return order


@router.delete("/{order_id}", response_model=OrderOut, summary="Cancel one of my orders")
async def cancel_one(request: Request, order_id: OrderId) -> OrderOut:
    def work(actor: Actor) -> OrderOut:
        order = _mine(actor, order_id)
        if not order.is_open:
            raise StateConflict(
                f"order {order.id} is already {order.status.replace('_', ' ')}: "
                "only open orders can be cancelled"
            )
        return OrderOut.of(cancel(actor, order.id))

    return await api_of(request).call(request, work, Action.CANCEL_OWN)


@router.patch(
    "/{order_id}",
    response_model=AmendedOut,
    summary="Amend one of my resting orders (price and/or amount)",
    description="A smaller amount keeps the order's place in the queue; a new price or a "
    "larger amount puts it at the back of its level. A new price that crosses the book "
    "trades at once.",
)
async def amend(request: Request, order_id: OrderId, body: AmendIn) -> AmendedOut:
    def work(actor: Actor) -> AmendedOut:
        before = _mine(actor, order_id)
        result = amend_order(
            actor, before.id, price=body.price, amount=body.amount, confirmed=body.confirm
        )
        after = result.order
        return AmendedOut(
            order=OrderOut.of(after),
            fills=[TradeOut.of(f, after.trader_address) for f in result.fills],
            kept_place=after.price == before.price and after.amount < before.amount,
        )

    return await api_of(request).call(request, work, Action.TRADE_OWN)


@router.delete("", response_model=CancelAllOut, summary="Cancel all my open orders")
async def cancel_every(
    request: Request,
    side: Literal["buy", "sell"] | None = None,
    up_to_placed_seq: Annotated[
        int | None,
        Query(
            ge=0,
            le=BIGINT_MAX,
            description="only orders placed up to this one (the largest placed_seq the "
            "client listed and means to cancel); orders placed since stay open and are "
            "counted in left_newer",
        ),
    ] = None,
) -> CancelAllOut:
    def work(actor: Actor) -> CancelAllOut:
        done = cancel_all(actor, side, up_to_placed_seq)
        return CancelAllOut(
            cancelled=done.count,
            left_newer=done.left_newer,
            orders=[OrderOut.of(o) for o in done.orders],
            released_watt=str(done.released_watt),
            released_energy=str(done.released_energy),
        )

    return await api_of(request).call(request, work, Action.CANCEL_OWN)
