"""The price ladder: asks above, bids below, the spread row in the middle, depth bars,
my own resting size on its levels; a level picked (Enter or a click) is traded from."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.message import Message
from textual.widgets import DataTable

from energy_tui.services.market.book import Book, Level
from energy_tui.tui.bindings import crowded, roomy
from energy_tui.tui.widgets.tables import Table

BLOCKS = " ▏▎▍▌▋▊▉█"
SPREAD = "spread"
# (label, width) of the columns before the depth bar; each column also takes one cell of
# padding on either side. "#" and "Cum. kWh" give way first on a narrow ladder.
PRICE, MINE, KWH, COUNT, CUMULATIVE = (
    ("Price", 6),
    ("Mine", 8),
    ("kWh", 8),
    ("#", 3),
    ("Cum. kWh", 10),
)
MIN_BAR = 8  # below this the narrow columns are used, and the bar takes what is left
TAKER = {"ask": "buy", "bid": "sell"}  # the side of an order that would take a level


def depth_bar(value: Decimal, largest: Decimal, width: int) -> str:
    """A left-aligned bar of eighth-blocks, `value / largest` of `width` cells."""
    if largest <= 0 or width <= 0:
        return ""
    eighths = int(value / largest * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[rest] if rest else "")).ljust(width)


@dataclasses.dataclass(frozen=True)
class Row:
    """A level of the ladder as shown: which side of the book, and its level."""

    book_side: str  # "ask" or "bid"
    level: Level

    @property
    def key(self) -> str:
        return f"{self.book_side}:{self.level.price}"

    @property
    def taker(self) -> str:
        return TAKER[self.book_side]


class PriceLadder(Table):
    """A view of `market.book.Book`, refreshed by the screen. The cursor moves over the
    levels only (j/k or the arrows skip the spread row and the blank rows that keep
    the spread in the middle); Enter on a level, or a click on one, posts `Picked`."""

    DEFAULT_CSS = """
    PriceLadder > .ladder--mine { color: $accent; text-style: bold; }
    """
    COMPONENT_CLASSES = {"ladder--mine"}
    BINDINGS = [*roomy("enter", "take", "Take")]  # in the footer where it has room

    @dataclasses.dataclass
    class Picked(Message):
        """A level was picked: an order on `side` (the side that takes it) at `price`."""

        side: str
        price: Decimal

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(zebra_stripes=False, cursor_type="row", **kwargs)
        # Someone who trades: a column of their own size, a cursor and Enter to take a
        # level. A viewer gets the book alone.
        self.trading = True
        self.book: Book | None = None  # as last shown, redrawn to a new size
        self.levels: dict[str, Row] = {}
        self._layout: tuple[int, bool, bool] | None = None  # (bar, narrow, mine) shown

    # -- drawing ------------------------------------------------------------------------

    def show(self, book: Book) -> None:
        """As many levels a side as fit, padded with blank rows so that the spread row
        sits in the middle; the cursor stays on the level it was on. An empty book is
        shown as the header alone (the screen says what to do)."""
        self.book = book
        fits = self.fits()
        current = self.selected_key()
        bar, narrow = self._columns()
        asks = [Row("ask", level) for level in book.asks[:fits]]
        bids = [Row("bid", level) for level in book.bids[:fits]]
        self.levels = {row.key: row for row in asks + bids}
        rows = self._rows(book, asks, bids, fits, bar, narrow) if self.levels else []
        select = current if current in self.levels else _nearest(book)
        self.sync_values(rows, self._cells, select=select)
        self._show_cursor(self.has_focus)

    def fits(self) -> int:
        """Levels a side the ladder's height holds (the spread row in the middle)."""
        return max(2, (self.size.height - 2) // 2) if self.size.height else 10

    def _rows(
        self, book: Book, asks: list[Row], bids: list[Row], fits: int, bar: int, narrow: bool
    ) -> list[tuple[str, tuple[object, ...]]]:
        """(key, what its cells are made of: `_cells`): blank rows and asks, the spread,
        bids and blank rows. A row whose value is the one it was last shown for keeps
        its cells (`Table.sync_values`): a refresh usually changes a few levels, and
        making the cells of every row again was most of the ladder's time."""
        largest = max([r.level.cumulative for r in asks[-1:] + bids[-1:]], default=Decimal(0))
        width, mine = len(self.columns), self._mine_style() if self.trading else None

        def level(r: Row) -> tuple[str, tuple[object, ...]]:
            # the bar as drawn, not the largest depth it is drawn against: a deeper book
            # on one side seldom moves the other side's bars by a cell
            return r.key, ("level", r, depth_bar(r.level.cumulative, largest, bar), narrow, mine)

        blank: tuple[object, ...] = ("blank", width)
        rows = [(f"pad:ask:{i}", blank) for i in range(fits - len(asks))]
        rows += [level(r) for r in reversed(asks)]
        rows.append((SPREAD, ("middle", book.spread, book.mid, narrow, self.trading, width)))
        rows += [level(r) for r in bids]
        rows += [(f"pad:bid:{i}", blank) for i in range(fits - len(bids))]
        return rows

    def _cells(self, value: tuple[Any, ...]) -> list[Text]:
        kind, *made_of = value
        if kind == "level":
            return self._level(*made_of)
        if kind == "middle":
            return _middle(*made_of)
        return [Text("") for _ in range(made_of[0])]

    def _show_cursor(self, focused: bool) -> None:
        """The cursor is where a level will be picked: shown only while the ladder has
        focus and a level to pick (a click focuses it first, then picks)."""
        self.show_cursor = focused and self.trading and bool(self.levels)

    def on_focus(self) -> None:
        self._show_cursor(True)  # called before the widget's own handler sets has_focus

    def on_blur(self) -> None:
        self._show_cursor(False)

    def _columns(self) -> tuple[int, bool]:
        """(bar width, narrow) for the current width; the columns are rebuilt when
        either changed. The bar takes every column the numbers leave."""
        width = self.size.width - 1  # one spare cell: never a horizontal scrollbar
        wide_cols = [PRICE, *([MINE] if self.trading else []), KWH, COUNT, CUMULATIVE]
        narrow_cols = [PRICE, *([MINE] if self.trading else []), KWH]
        narrow = width - _taken(wide_cols) < MIN_BAR
        columns = narrow_cols if narrow else wide_cols
        bar = max(3, width - _taken(columns))
        layout = (bar, narrow, self.trading)
        if layout != self._layout:
            self.clear(columns=True)
            for label, size in columns:
                self.add_column(label, width=size, key=label)
            self.add_column("Depth", width=bar, key="Depth")
            self._layout = layout
        return bar, narrow

    def _level(self, row: Row, bar: str, narrow: bool, mine: Style | None) -> list[Text]:
        level = row.level
        colour = "red" if row.book_side == "ask" else "green"
        cells = [Text(f"{level.price:.4f}", style=f"bold {colour}")]
        if mine is not None:  # someone who trades: the Mine column
            cells.append(_mine(level.mine, mine))
        cells.append(Text(f"{level.quantity:,.2f}", justify="right"))
        if not narrow:
            cells.append(Text(str(level.orders), justify="right"))
            cells.append(Text(f"{level.cumulative:,.2f}", justify="right"))
        cells.append(Text(bar, style=colour))
        return cells

    def _mine_style(self) -> Style:
        """My size's style (the theme's accent), read once a refresh: part of each level
        row's value, so that a new theme makes the rows anew."""
        return self.get_component_rich_style("ladder--mine", partial=True) or Style(bold=True)

    # -- picking ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "take":
            return self.trading and not crowded(self, parameters)
        return super().check_action(action, parameters)

    @dataclasses.dataclass
    class Resized(Message):
        """The ladder's size changed: it may now hold more levels than were read."""

        fits: int

    def on_resize(self) -> None:
        """Levels to the new height, bars to the new width."""
        if self.book is not None:
            self.show(self.book)
        self.refresh_bindings()
        self.post_message(self.Resized(self.fits()))

    def action_take(self, _unlisted: str = "") -> None:
        self._pick()

    def selected(self) -> Row | None:
        """The level under the cursor (None on the spread or a blank row)."""
        return self.levels.get(self.selected_key() or "")

    def action_cursor_up(self) -> None:
        self._step(-1)

    def action_cursor_down(self) -> None:
        self._step(1)

    def _step(self, delta: int) -> None:
        """To the next level up or down, over the spread row and blank rows."""
        row = self.cursor_row + delta
        while 0 <= row < self.row_count:
            if self.ordered_rows[row].key.value in self.levels:
                self.move_cursor(row=row)
                return
            row += delta

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        """Enter, or a click on the level under the cursor."""
        event.stop()
        self._pick()

    async def _on_click(self, event: events.Click) -> None:
        """One click picks a level (the table's own needs two: one to move the cursor
        there, one to select)."""
        before = self.cursor_row
        await super()._on_click(event)
        row = event.style.meta.get("row")
        if isinstance(row, int) and row >= 0 and row != before and row == self.cursor_row:
            self._pick()

    def _pick(self) -> None:
        row = self.selected()
        if row is not None:
            self.post_message(self.Picked(row.taker, row.level.price))


def _taken(columns: list[tuple[str, int]]) -> int:
    """Cells that `columns` take with their padding, and the padding of the bar."""
    return sum(width + 2 for _label, width in columns) + 2


def _mine(mine: Decimal, style: Style) -> Text:
    if not mine:
        return Text("")
    return Text(f"{mine:,.2f}", style=style, justify="right")


def _middle(
    spread: Decimal | None, mid: Decimal | None, narrow: bool, trading: bool, width: int
) -> list[Text]:
    """ "spread" and its value, then "mid" and the mid price, in the columns that hold
    them whole (the depth bar's can be as narrow as 3); `width`: the ladder's columns."""
    shown_spread = f"{spread:.4f}" if spread is not None else "-"
    shown_mid = f"{mid:.4f}" if mid is not None else ""
    cells = [Text(SPREAD, style="bold")] + [Text("") for _ in range(width - 1)]
    cells[1] = Text(shown_spread, justify="left" if trading else "right")
    if not shown_mid:
        return cells
    if not narrow:
        cells[-2] = Text(f"mid {shown_mid}", justify="right")  # under the cumulative kWh
    elif trading:
        cells[2], cells[-1] = Text("mid", justify="right"), Text(shown_mid)
    else:
        cells[-1] = Text(f"mid {shown_mid}")
    return cells


def _nearest(book: Book) -> str | None:
    """The level a fresh cursor starts on: the best ask (the one a buyer takes first)."""
    if book.asks:
        return Row("ask", book.asks[0]).key
    return Row("bid", book.bids[0]).key if book.bids else None


def summary(book: Book) -> Text:
    """Last price and its change, for the ladder's border."""
    if book.last_price is None:
        return Text("no trades yet", style="dim")
    if book.last_change is None:
        return Text(f" last {book.last_price:.4f} ")
    change = book.last_change
    arrow, style = ("▲", "green") if change > 0 else ("▼", "red") if change < 0 else ("=", "")
    return Text(f" last {book.last_price:.4f} {arrow}{abs(change):.4f} ", style=style)
