"""Market trades and my trades: filters, sortable columns, CSV export."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Literal

from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    DataTable,
    Header,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
)

from energy_tui import clock, locations
from energy_tui.services.market import book as market
from energy_tui.services.market import export
from energy_tui.services.market.book import TradeFilter, TradeView
from energy_tui.tui.screens.base import DataScreen
from energy_tui.tui.widgets.banner import ConnectionBanner
from energy_tui.tui.widgets.cells import Cell, label, number
from energy_tui.tui.widgets.export_dialog import ExportDialog
from energy_tui.tui.widgets.fields import TextField
from energy_tui.tui.widgets.key_footer import KeyFooter
from energy_tui.tui.widgets.tables import Table

LIMIT = 1000  # rows in the table; the export writes every matching trade
EXPORT_ALL = 1_000_000_000
SIDES = ("all", "buy", "sell")
DAY_FORM = "YYYY-MM-DD"


# --- columns ---------------------------------------------------------------------------


def _side_style(side: str | None) -> str:
    return {"buy": "green", "sell": "red"}.get(side or "", "")


def _my_fee(t: TradeView, me: str) -> Cell:
    """The buyer pays the fee: on my sells there is none to show (it sorts as 0)."""
    if t.side_for(me) == "buy":
        return number(t.fee, f"{t.fee:,.2f}")
    return number(Decimal(0), "")


def _net(t: TradeView, me: str) -> Decimal:
    """What the trade did to my WATT: a buy cost the total plus the fee."""
    return -t.buyer_total if t.side_for(me) == "buy" else t.total


@dataclasses.dataclass(frozen=True)
class Column:
    key: str
    title: str
    descending: bool  # the direction a first sort by this column takes
    cell: Callable[[TradeView, str], Cell]


def _time(t: TradeView, _me: str) -> Cell:
    return Cell(t.executed_at, f"{t.executed_at:%Y-%m-%d %H:%M:%S}")


TIME = Column("time", "Time (UTC)", True, _time)
AMOUNT = Column("amount", "kWh", True, lambda t, _: number(t.amount, f"{t.amount:,.2f}"))
TOTAL = Column("total", "Total", True, lambda t, _: number(t.total, f"{t.total:,.2f}"))
FEE = Column("fee", "Fee", True, lambda t, _: number(t.fee, f"{t.fee:,.2f}"))
MARKET_COLUMNS = (
    TIME,
    AMOUNT,
    Column(
        "price",
        "Price",
        True,
        lambda t, _: number(t.price, f"{t.price:.4f}", _side_style(t.taker_side)),
    ),
    TOTAL,
    FEE,
    Column("buyer", "Buyer", False, lambda t, _: label(t.buyer_address)),
    Column("seller", "Seller", False, lambda t, _: label(t.seller_address)),
    Column("taker", "Taker", False, lambda t, _: label(t.taker_side, _side_style(t.taker_side))),
)
MINE_COLUMNS = (
    TIME,
    Column("side", "Side", False, lambda t, me: label(t.side_for(me), _side_style(t.side_for(me)))),
    AMOUNT,
    Column("price", "Price", True, lambda t, _: number(t.price, f"{t.price:.4f}")),
    TOTAL,
    Column("fee", "Fee", True, _my_fee),
    Column("net", "Net WATT", True, lambda t, me: number(_net(t, me), f"{_net(t, me):+,.2f}")),
    Column(
        "with",
        "With",
        False,
        lambda t, me: label(t.seller_address if t.side_for(me) == "buy" else t.buyer_address),
    ),
)


# --- filters ---------------------------------------------------------------------------


def parse_day(text: str) -> dt.date | None:
    """A YYYY-MM-DD date, None when empty; ValueError with a reason fit to show."""
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise ValueError(f"Use {DAY_FORM}")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"No such day: {text}") from None


def day_start(day: dt.date | None) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, dt.time())


def day_end(day: dt.date | None) -> dt.datetime | None:
    """The (exclusive) end of `day`; None, no end, without a day or through the calendar's
    last (9999-12-31: the day after it is beyond what a datetime holds)."""
    return None if day is None or day == dt.date.max else day_start(day + dt.timedelta(days=1))


def default_export_path(now: dt.datetime) -> Path:
    """The documents folder if there is one, else the working directory."""
    documents = locations.documents_dir()
    folder = documents if documents.is_dir() else Path.cwd()
    return folder / export.default_name(now)


class DateField(Vertical):
    """A labelled date input with the reason it is wrong shown under it."""

    def __init__(self, title: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(classes="date-field", **kwargs)
        self.caption = title

    def compose(self) -> ComposeResult:
        with Horizontal(classes="date-row"):
            yield Label(self.caption, classes="filter-label")
            yield TextField(placeholder=DAY_FORM, restrict=r"[0-9-]*", max_length=10, compact=True)
        yield Static("", classes="field-error")

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    def read(self) -> dt.date | None:
        """The day typed, marking the field; ValueError if it is not one."""
        try:
            day = parse_day(self.input.value)
        except ValueError as exc:
            self.show_error(str(exc))
            raise
        self.show_error("")
        return day

    def show_error(self, message: str) -> None:
        error = self.query_one(".field-error", Static)
        error.update(message)
        error.display = bool(message)
        self.input.set_class(bool(message), "-invalid")


# --- the screen ------------------------------------------------------------------------


class TradesScreen(DataScreen):
    BINDINGS = [
        Binding("m", "toggle_mine", "Mine"),
        Binding("s", "cycle_side", "Side"),
        Binding("d", "edit_dates", "Dates"),
        Binding("o", "cycle_sort", "Sort"),
        Binding("r", "reverse_sort", "Reverse"),
        Binding("e", "export", "Export"),
        Binding("c", "clear_filters", "Clear"),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.mine = False
        self.side: str | None = None
        self.since: dt.date | None = None
        self.until: dt.date | None = None
        self.sort_key = TIME.key
        self.sort_descending = True
        self.rows: list[TradeView] = []
        self.ready = False  # rows for the current view have arrived

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        with Vertical(id="trade-filters", classes="pane"):
            with Horizontal(classes="filter-row", id="scope-row"):
                yield Label("Show", classes="filter-label")
                with RadioSet(id="scope", compact=True):
                    yield RadioButton("Market", value=True, id="scope-market")
                    yield RadioButton("Mine", id="scope-mine")
                yield Label("Side", classes="filter-label")
                with RadioSet(id="side", compact=True):
                    for side in SIDES:
                        yield RadioButton(side.title(), value=side == "all", id=f"side-{side}")
            with Horizontal(classes="filter-row dates"):
                yield DateField("From", id="since")
                yield DateField("To", id="until")
                yield Static("Enter applies; UTC days", classes="filter-hint")
        with Vertical(id="trades-pane", classes="pane"):
            yield Table(id="trades")
            yield Static("", id="trades-empty")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#trade-filters").border_title = "Filters"
        for field in self.query(DateField):
            field.show_error("")
        # market trades only for users who trade for no prosumer (viewers, most admins)
        self.query_one("#scope-row").display = self.address is not None
        self.query_one("#side", RadioSet).disabled = True
        self._render_table()
        self.query_one("#trades", Table).focus()
        super().on_mount()

    @property
    def address(self) -> str | None:
        actor = self.energy.actor
        return actor.prosumer_address if actor else None

    @property
    def columns(self) -> tuple[Column, ...]:
        return MINE_COLUMNS if self.mine else MARKET_COLUMNS

    def spec(self, limit: int = LIMIT) -> TradeFilter:
        mine = self.mine and self.address is not None
        return TradeFilter(
            self.address if mine else None,
            self.side if mine else None,
            day_start(self.since),
            day_end(self.until),
            limit,
        )

    # -- loading --------------------------------------------------------------------------

    def refresh_data(self) -> None:
        if self.energy.session is None:
            return
        spec = self.spec()
        self.run_db(market.trades, spec, then=lambda rows: self.loaded(spec, rows), group="trades")

    def loaded(self, spec: TradeFilter, rows: list[TradeView]) -> None:
        if spec != self.spec():  # the filters changed while this was loading
            return
        self.rows, self.ready = rows, True
        self._render_table()

    def _render_table(self) -> None:
        table = self.query_one("#trades", Table)
        keep = self._cursor_key(table)
        me = self.address or ""
        rows = [(str(t.id), [column.cell(t, me) for column in self.columns]) for t in self.rows]
        table.clear(columns=True)
        for index, column in enumerate(self.columns):
            # Widths fixed here: DataTable settles auto widths only when idle, and a
            # frame drawn before that stays cut to the header's width until the next
            # change (Textual 8.2).
            header = self._header(column)
            width = max([cell_len(header), *(cell_len(cells[index].text) for _, cells in rows)])
            table.add_column(header, key=column.key, width=width)
        for key, cells in rows:
            table.add_row(*cells, key=key)
        table.sort(self.sort_key, reverse=self.sort_descending)
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), scroll=True)
        self._show_titles()

    @staticmethod
    def _cursor_key(table: DataTable) -> str | None:
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _header(self, column: Column) -> str:
        if column.key != self.sort_key:
            return column.title
        return f"{column.title} {'▼' if self.sort_descending else '▲'}"

    def _show_titles(self) -> None:
        pane = self.query_one("#trades-pane")
        pane.border_title = (
            f"My trades ({self.address})" if self.mine and self.address else "Market trades"
        )
        count = len(self.rows)
        shown = (
            f"newest {count:,} shown: narrow the dates for older ones"
            if count >= LIMIT
            else f"{count:,} trade{'' if count == 1 else 's'}"
        )
        pane.border_subtitle = f"{shown} · {self.describe_filters()}"
        filtered = self.since or self.until or (self.mine and self.side)
        empty = self.query_one("#trades-empty", Static)
        empty.update(
            "No trades match these filters (c clears them)." if filtered else "No trades yet."
        )
        empty.display = self.ready and not self.rows
        pane.set_class(empty.display, "-empty")

    def describe_filters(self) -> str:
        parts = []
        if self.mine:
            parts.append(f"side {self.side or 'all'}")
        if self.since or self.until:
            start = self.since.isoformat() if self.since else "start"
            end = self.until.isoformat() if self.until else "today"
            parts.append(f"{start} to {end}")
        else:
            parts.append("all dates")
        return ", ".join(parts)

    # -- filters --------------------------------------------------------------------------

    @on(RadioSet.Changed, "#scope")
    def scope_changed(self, event: RadioSet.Changed) -> None:
        self.mine = event.pressed.id == "scope-mine"
        self.query_one("#side", RadioSet).disabled = not self.mine
        if self.sort_key not in {c.key for c in self.columns}:
            self.sort_key, self.sort_descending = TIME.key, True
        self.rows, self.ready = [], False
        self._render_table()
        self.refresh_bindings()
        self.refresh_data()

    @on(RadioSet.Changed, "#side")
    def side_changed(self, event: RadioSet.Changed) -> None:
        side = (event.pressed.id or "side-all").removeprefix("side-")
        self.side = None if side == "all" else side
        self.refresh_data()

    @on(Input.Submitted, ".date-field Input")
    def dates_submitted(self) -> None:
        if self.apply_dates():  # back to the rows; on an error stay to correct it
            self.action_focus_table()

    def apply_dates(self) -> bool:
        """Read both dates; on a bad one keep the rows shown and say why under it."""
        since = self._read_date("#since")
        until = self._read_date("#until")
        if since is False or until is False:
            return False
        if since and until and until < since:
            self.query_one("#until", DateField).show_error("To is before From")
            return False
        if (since, until) != (self.since, self.until):
            self.since, self.until = since, until
            self.refresh_data()
        return True

    def _read_date(self, selector: str) -> dt.date | Literal[False] | None:
        """The field's day, None if empty, False if it is not a day (marked inline)."""
        try:
            return self.query_one(selector, DateField).read()
        except ValueError:
            return False

    # -- actions --------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle_mine", "cycle_side") and self.address is None:
            return False
        if action == "cycle_side":
            return None if not self.mine else True
        return True

    def action_toggle_mine(self) -> None:
        target = "#scope-market" if self.mine else "#scope-mine"
        self.query_one(target, RadioButton).value = True

    def action_cycle_side(self) -> None:
        if self.mine:
            following = SIDES[(SIDES.index(self.side or "all") + 1) % len(SIDES)]
            self.query_one(f"#side-{following}", RadioButton).value = True

    def action_edit_dates(self) -> None:
        self.query_one("#since", DateField).input.focus()

    def action_focus_table(self) -> None:
        self.query_one("#trades", Table).focus()

    def action_clear_filters(self) -> None:
        for field in self.query(DateField):
            field.input.value = ""
            field.show_error("")
        self.query_one("#side-all", RadioButton).value = True
        self.side, self.since, self.until = None, None, None
        self.refresh_data()

    def action_cycle_sort(self) -> None:
        keys = [c.key for c in self.columns]
        self.sort_by(keys[(keys.index(self.sort_key) + 1) % len(keys)])

    def action_reverse_sort(self) -> None:
        self.sort_descending = not self.sort_descending
        self._render_table()

    @on(DataTable.HeaderSelected, "#trades")
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value or TIME.key
        if key == self.sort_key:
            self.action_reverse_sort()
        else:
            self.sort_by(key)

    def sort_by(self, key: str) -> None:
        column = next(c for c in self.columns if c.key == key)
        self.sort_key, self.sort_descending = key, column.descending
        self._render_table()

    def action_export(self) -> None:
        spec = self.spec(limit=EXPORT_ALL)
        if self.app.is_web:  # in a browser: a download, never a file on the server
            self.run_db(export.trades_csv, spec, then=self.deliver, group="export")
            return
        bridge = self.energy.bridge
        scope = f"My trades ({self.address})" if spec.address else "Market trades"
        detail = (
            f"{scope}, {self.describe_filters()}: every matching trade, oldest first, "
            "with exact amounts and prices."
        )
        dialog = ExportDialog(
            "Export trades to CSV",
            detail,
            default_export_path(clock.now()),
            lambda path, overwrite: bridge.call(
                export.export_trades, path, spec, overwrite=overwrite
            ),
        )
        self.app.push_screen(dialog, self.exported)

    def deliver(self, result: tuple[str, int]) -> None:
        """Hand the CSV to the browser as a download (Textual's web file delivery)."""
        text, count = result
        name = export.default_name(clock.now())
        self.app.deliver_text(
            io.StringIO(text), save_filename=name, mime_type="text/csv", encoding="utf-8"
        )
        noun = "trade" if count == 1 else "trades"
        self.notify(f"{count:,} {noun} in {name}", title="Trades download")

    def exported(self, path: Path | None) -> None:
        if path is not None:
            self.notify(str(path), title="Trades exported")
