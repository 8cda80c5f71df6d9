"""/api/v1/account: my prosumer's balances, trades (and CSV), meter readings."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from energy_tui import clock
from energy_tui.api.routes_market import api_of, trade_page
from energy_tui.api.schemas import (
    BalancesOut,
    Page,
    ReadingIn,
    ReadingOut,
    ReadingsIn,
    ReadingsOut,
    TradeOut,
    decode_cursor,
    encode_cursor,
)
from energy_tui.api.strict import StrictRoute
from energy_tui.db.models import db
from energy_tui.errors import ValidationError
from energy_tui.services import prosumers
from energy_tui.services.audit import parse_since
from energy_tui.services.context import Actor
from energy_tui.services.market import book as market_book
from energy_tui.services.market import export, own_address
from energy_tui.services.market.book import TradeFilter
from energy_tui.services.permissions import Action

router = APIRouter(prefix="/api/v1/account", tags=["account"], route_class=StrictRoute)
READ = Action.READ_MARKET
Since = Annotated[
    str | None, Query(max_length=40, description="a date, a date-time (UTC), or 24h / 7d ago")
]


@router.get("/balances", response_model=BalancesOut, summary="My prosumer's balances")
async def balances(request: Request) -> BalancesOut:
    return await api_of(request).call(
        request, lambda actor: BalancesOut.of(prosumers.balances(own_address(actor))), READ
    )


def _filter(
    actor: Actor,
    side: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    before: int | None = None,
) -> TradeFilter:
    now = clock.now()
    return TradeFilter(
        address=own_address(actor),
        side=side,
        since=parse_since(since, now),
        until=parse_since(until, now, "until") if until else None,
        limit=limit,
        before_seq=before,
    )


@router.get("/trades", response_model=Page[TradeOut], summary="My trades, newest first")
async def my_trades(
    request: Request,
    side: Literal["buy", "sell"] | None = None,
    since: Since = None,
    until: Since = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> Page[TradeOut]:
    def work(actor: Actor) -> Page[TradeOut]:
        spec = _filter(actor, side, since, until, limit + 1, decode_cursor(cursor, "trade"))
        return trade_page(market_book.trades(spec), limit, spec.address)

    return await api_of(request).call(request, work, READ)


@router.get(
    "/trades.csv",
    summary="My trades as CSV (the app's export format)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def my_trades_csv(
    request: Request,
    side: Literal["buy", "sell"] | None = None,
    since: Since = None,
    until: Since = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Response:
    def work(actor: Actor) -> str:
        spec = _filter(actor, side, since, until, limit)
        return export.trades_csv(spec)[0]

    body = await api_of(request).call(request, work, READ)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="trades.csv"'},
    )


@router.get(
    "/meter-readings", response_model=Page[ReadingOut], summary="My prosumer's meter readings"
)
async def my_readings(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> Page[ReadingOut]:
    def work(actor: Actor) -> Page[ReadingOut]:
        skip = decode_cursor(cursor, "reading") or 0
        found = prosumers.readings(own_address(actor), limit=skip + limit + 1)[skip:]
        more = len(found) > limit
        return Page[ReadingOut](
            items=[ReadingOut.of(r) for r in found[:limit]],
            next_cursor=encode_cursor("reading", skip + limit) if more else None,
        )

    return await api_of(request).call(request, work, READ)


@router.post(
    "/meter-readings",
    response_model=ReadingsOut,
    status_code=201,
    summary="Post meter readings for my prosumer (one, or a batch: all or nothing)",
    description="Needs a key with the `meter` permission (issued by an operator), or an "
    "operator's rights.",
)
async def post_readings(request: Request, body: ReadingsIn) -> ReadingsOut:
    def work(actor: Actor) -> ReadingsOut:
        address = own_address(actor)
        return record_readings(actor, address, body)

    return await api_of(request).call(request, work)


def record_readings(actor: Actor, address: str, body: ReadingsIn) -> ReadingsOut:
    batch = readings_of(body)
    prosumers.require_meter(actor, address)  # before the transaction: a denial's audit stays
    with db.atomic():
        for reading in batch:
            result = prosumers.add_meter_reading(
                actor, address, reading.generated, reading.consumed
            )
    return ReadingsOut(recorded=len(batch), balances=BalancesOut.of(result))


def readings_of(body: ReadingsIn) -> list[ReadingIn]:
    single = body.generated is not None or body.consumed is not None
    if body.readings is not None and single:
        raise ValidationError(
            "give either one reading (generated, consumed) or `readings`, not both",
            field="readings",
        )
    if body.readings is not None:
        if not body.readings:
            raise ValidationError("`readings` is empty: give at least one", field="readings")
        return body.readings
    return [ReadingIn(generated=body.generated or "0", consumed=body.consumed or "0")]
