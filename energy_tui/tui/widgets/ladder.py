"""The price ladder: asks above, bids below, depth bars, spread/mid/last between."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text

from energy_tui.services.market.book import Book, Level
from energy_tui.tui.widgets.tables import Table

BAR_WIDTH = 10
# cells the other four columns take with their padding ("0.1500", "1,234.56", "12",
# "12,345.67"): what is left of the widget's width goes to the depth bar
OTHER_COLUMNS = 38
BLOCKS = " ▏▎▍▌▋▊▉█"


def depth_bar(value: Decimal, largest: Decimal, width: int = BAR_WIDTH) -> str:
    """A left-aligned bar of eighth-blocks, `value / largest` of `width` cells."""
    if largest <= 0:
        return ""
    eighths = int(value / largest * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[rest] if rest else "")).ljust(width)


class PriceLadder(Table):
    """Read-only view of `market.book.Book`; refreshed by the screen."""

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(zebra_stripes=False, cursor_type="none", **kwargs)

    def on_mount(self) -> None:
        self.add_columns("Price", "kWh", "#", "Cum. kWh", "Depth")

    def show(self, book: Book, depth: int) -> None:
        """Up to `depth` levels a side, fewer when the widget is short, so the spread
        row always sits in view in the middle."""
        fits = max(2, (self.size.height - 2) // 2) if self.size.height else depth
        depth = min(depth, fits)
        bar = max(3, min(BAR_WIDTH, self.size.width - OTHER_COLUMNS))
        self.clear()
        asks, bids = book.asks[:depth], book.bids[:depth]
        largest = max([lvl.cumulative for lvl in asks[-1:] + bids[-1:]], default=Decimal(0))
        for level in reversed(asks):
            self._row(level, largest, "ask", bar)
        self.add_row(*self._middle(book))
        for level in bids:
            self._row(level, largest, "bid", bar)

    def _row(self, level: Level, largest: Decimal, side: str, bar: int) -> None:
        style = "bold red" if side == "ask" else "bold green"
        self.add_row(
            Text(f"{level.price:.4f}", style=style),
            Text(f"{level.quantity:,.2f}", justify="right"),
            Text(str(level.orders), justify="right"),
            Text(f"{level.cumulative:,.2f}", justify="right"),
            Text(depth_bar(level.cumulative, largest, bar), style=style.split()[-1]),
        )

    @staticmethod
    def _middle(book: Book) -> tuple[Text, ...]:
        spread = f"{book.spread:.4f}" if book.spread is not None else "-"
        return (
            Text("spread", style="bold"),
            Text(spread, justify="right"),
            Text(""),
            Text(f"mid {book.mid:.4f}" if book.mid is not None else ""),
            Text(""),
        )


def summary(book: Book) -> Text:
    """Last price and its change, for the ladder's border."""
    if book.last_price is None:
        return Text("no trades yet", style="dim")
    if book.last_change is None:
        return Text(f" last {book.last_price:.4f} ")
    change = book.last_change
    arrow, style = ("▲", "green") if change > 0 else ("▼", "red") if change < 0 else ("=", "")
    return Text(f" last {book.last_price:.4f} {arrow}{abs(change):.4f} ", style=style)
