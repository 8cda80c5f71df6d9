"""What the ticket says under its fields: the preview of an order (a limit order's cost
and what fills now; a market order's walk, worst price and cap) or of an amendment."""

from __future__ import annotations

from decimal import Decimal

from energy_tui.services.market.book import Preview
from energy_tui.services.market.views import OrderView

EMPTY = "Type an amount and a price to see the cost."
EMPTY_MARKET = "Type an amount (a cap is optional) to see the walk."


def describe(p: Preview | None, market: bool = False) -> str:
    if p is None:
        return EMPTY_MARKET if market else EMPTY
    lines = _market(p) if p.kind == "market" else _limit(p)
    return "\n".join([*lines, _standing(p)])


def _limit(p: Preview) -> list[str]:
    lines = []
    if p.side == "buy":
        lines.append(
            f"Cost {p.base_cost:,.2f} + grid fee {p.fee:,.2f} = [b]{p.total:,.2f}[/b] WATT"
        )
        word = "saves" if p.savings >= 0 else "costs"
        lines.append(f"vs grid {p.grid_cost:,.2f}: {word} {abs(p.savings):,.2f} WATT")
    else:
        lines.append(f"Proceeds at limit [b]{p.total:,.2f}[/b] WATT")
    if p.fill_now:
        lines.append(
            f"Fills now {p.fill_now:,.2f} kWh @ avg {p.fill_price:.4f} ({p.fill_cost:,.2f} WATT)"
        )
    elif p.own_cross is not None:
        lines.append("No other trader's order crosses now")
    else:
        lines.append("Would rest on the book (nothing crosses now)")
    return lines


def _market(p: Preview) -> list[str]:
    cap = f"cap {p.cap:.4f}" if p.cap is not None else "no cap"
    note = f" ({p.cap_note})" if p.cap_note else ""
    lines = [f"Market {p.side}, {cap}{note}"]
    if not p.fill_now:
        lines.append("[b]Nothing to take within the cap[/b]: it would be cancelled")
        return lines
    worst = f"{p.worst_price:.4f}" if p.worst_price is not None else "-"
    lines.append(
        f"Walks to [b]{worst}[/b] (worst), avg {p.fill_price:.4f}: "
        f"{p.fill_now:,.2f} of {p.amount:,.2f} kWh"
    )
    verb = "costs" if p.side == "buy" else "earns"
    lines.append(f"It {verb} [b]{p.fill_cost:,.2f}[/b] WATT" + _rest(p))
    return lines


def _rest(p: Preview) -> str:
    rest = p.amount - p.fill_now
    return f"; {rest:,.2f} kWh would be cancelled" if rest > 0 else ""


def _standing(p: Preview) -> str:
    """Whether the prosumer can afford it, or that it crosses their own order."""
    if p.own_cross is not None:
        other = "sell" if p.side == "buy" else "buy"
        return f"[red]Would cross your own {other} at {p.own_cross:.4f}: cancel it first[/red]"
    unit = "WATT" if p.side == "buy" else "kWh"
    have = f"available {p.available:,.2f} {unit}"
    return f"[red]Not enough: {have}[/red]" if not p.enough else f"[dim]{have}[/dim]"


def describe_amend(order: OrderView, amount: Decimal | None, price: Decimal | None) -> str:
    """The amendment as typed, and whether the order keeps its place in the queue."""
    amount = order.amount if amount is None else amount
    price = order.price if price is None else price
    was = f"{order.side} {order.amount:,.2f} kWh @ {order.price:.4f}"
    now = f"{amount:,.2f} kWh @ {price:.4f}"
    if (amount, price) == (order.amount, order.price):
        return f"Amending {was}\nChange the amount or the price (Esc: leave as it is)"
    if amount <= order.filled:
        filled = f"{order.filled:,.2f} kWh have filled: cancel instead"
        return f"Amending {was} to {now}\n[red]{filled}[/red]"
    keeps = price == order.price and amount < order.amount
    place = (
        "keeps its place in the queue" if keeps else "goes to the back of the queue at its price"
    )
    return f"Amending {was} to [b]{now}[/b]\nIt {place} (Esc: leave as it is)"
