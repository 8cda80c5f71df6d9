"""GET /api/v1/market/...: the book, recent trades, daily statistics, candles, rules."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from energy_tui import clock
from energy_tui.api.context import Api
from energy_tui.api.schemas import (
    BookOut,
    CandleOut,
    DayStatsOut,
    Page,
    RulesOut,
    TradeOut,
    decode_cursor,
    encode_cursor,
    iso,
    json_response,
)
from energy_tui.api.strict import StrictRoute
from energy_tui.errors import ValidationError
from energy_tui.services.audit import parse_since
from energy_tui.services.context import Actor
from energy_tui.services.market import book as market_book
from energy_tui.services.market import rules as market_rules
from energy_tui.services.market import stats
from energy_tui.services.market.book import TradeFilter
from energy_tui.services.permissions import Action

router = APIRouter(prefix="/api/v1/market", tags=["market"], route_class=StrictRoute)
READ = Action.READ_MARKET


def api_of(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


@router.get("/book", response_model=BookOut, summary="The order book, aggregated by price")
async def get_book(request: Request, depth: Annotated[int, Query(ge=1, le=500)] = 20) -> Response:
    book = await api_of(request).call(
        request, lambda actor: BookOut.of(market_book.book(depth)), READ
    )
    return json_response(book)


@router.get("/trades", response_model=Page[TradeOut], summary="Recent trades, newest first")
async def recent_trades(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> Page[TradeOut]:
    def work(actor: Actor) -> Page[TradeOut]:
        before = decode_cursor(cursor, "trade")
        found = market_book.trades(TradeFilter(limit=limit + 1, before_seq=before))
        return trade_page(found, limit)

    return await api_of(request).call(request, work, READ)


def trade_page(
    found: list[market_book.TradeView], limit: int, address: str | None = None
) -> Page[TradeOut]:
    items = [TradeOut.of(t, address) for t in found[:limit]]
    more = len(found) > limit
    return Page[TradeOut](
        items=items, next_cursor=encode_cursor("trade", found[limit - 1].seq) if more else None
    )


@router.get("/stats", response_model=list[DayStatsOut], summary="Daily statistics, oldest first")
async def daily_stats(
    request: Request, days: Annotated[int, Query(ge=1, le=3660)] = 7
) -> list[DayStatsOut]:
    return await api_of(request).call(
        request, lambda actor: [DayStatsOut.of(row) for row in stats.daily(days)], READ
    )


@router.get("/candles", response_model=list[CandleOut], summary="OHLCV candles of trades")
async def candles(
    request: Request,
    interval: Annotated[
        int, Query(ge=60, le=86400 * 7, description="bucket width in seconds")
    ] = 3600,
    since: Annotated[
        str | None, Query(max_length=40, description="a date, a date-time, or 24h / 7d ago")
    ] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
) -> list[CandleOut]:
    def work(actor: Actor) -> list[CandleOut]:
        now = clock.now()
        start = parse_since(since, now) or now - dt.timedelta(days=1)
        end = parse_since(until, now, "until") if until else None
        if (end or now) - start > dt.timedelta(seconds=interval * 5000):
            raise ValidationError(
                "more than 5000 candles asked for: widen the interval or shorten the span",
                field="interval",
            )
        return [
            CandleOut(
                start=iso(c.start) or "",
                open=str(c.open),
                high=str(c.high),
                low=str(c.low),
                close=str(c.close),
                volume=str(c.volume),
                trades=c.trades,
            )
            for c in stats.candles(interval, start, end)
        ]

    return await api_of(request).call(request, work, READ)


@router.get("/rules", response_model=RulesOut, summary="The market's rules")
async def rules(request: Request) -> RulesOut:
    return await api_of(request).call(
        request, lambda actor: RulesOut.of(market_rules.current()), READ
    )
