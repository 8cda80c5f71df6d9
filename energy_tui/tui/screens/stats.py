"""Market statistics: the daily table, OHLC candles, daily price ranges and volume.

Candles come from `stats.candles(seconds, since, until)` (15 min and 1 h for today, 1
day for the range); the charts are drawn cell by cell (`widgets/textchart.py`): wicks,
rising and falling candles in the theme's success and error colours, round ticks, and
nothing outside its panel. `i` switches the candles' interval.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import Header

from energy_tui import clock
from energy_tui.services.market import stats
from energy_tui.services.market.money import round_price
from energy_tui.services.market.stats import Candle
from energy_tui.tui.screens.base import DataScreen
from energy_tui.tui.widgets.banner import ConnectionBanner
from energy_tui.tui.widgets.cells import Cell, number
from energy_tui.tui.widgets.key_footer import KeyFooter
from energy_tui.tui.widgets.tables import EmptyNote, Table
from energy_tui.tui.widgets.textchart import Series, Slot, TextChart

RANGES = {"w": 7, "m": 30, "q": 90}
DAY = 86400
# the candles' intervals, `i` cycles them: seconds -> name
INTERVALS = {900: "15 min", 3600: "1 h", DAY: "1 day"}
NARROW = 110  # below this many columns: the table and one chart at a time
CHARTS = ("price", "volume", "candles")


@dataclasses.dataclass(frozen=True)
class Day:
    date: dt.date
    trades: int
    volume: Decimal
    notional: Decimal
    vwap: Decimal
    high: Decimal
    low: Decimal
    open: Decimal | None = None  # the day's first and last trade prices (its candle)
    close: Decimal | None = None


@dataclasses.dataclass(frozen=True)
class StatsView:
    """Everything the screen shows, read in one worker call."""

    days: int
    today: dt.date
    now: dt.datetime
    rows: list[Day]  # oldest first; days without a row are absent
    interval: int  # seconds of `candles`
    candles: list[Candle]  # today's (or the range's, for 1 day), oldest first

    @property
    def start(self) -> dt.date:
        return self.today - dt.timedelta(days=self.days - 1)

    @property
    def traded(self) -> list[Day]:
        return [d for d in self.rows if d.trades]

    def summary(self) -> str:
        trades = sum(d.trades for d in self.rows)
        volume = sum((d.volume for d in self.rows), Decimal(0))
        notional = sum((d.notional for d in self.rows), Decimal(0))
        vwap = f"VWAP {round_price(notional / volume)}" if volume else "no volume"
        return f"{trades:,} trades · {volume:,.2f} kWh · {vwap}"


def load(days: int, interval: int = 3600) -> StatsView:
    now = clock.now()
    start = dt.datetime.combine(now.date() - dt.timedelta(days=days - 1), dt.time())
    daily = {c.start.date(): c for c in stats.candles(DAY, start)}
    rows = [
        Day(
            r.date,
            r.total_trades,
            r.total_volume,
            r.notional,
            r.average_price,
            r.highest_price,
            r.lowest_price,
            daily[r.date].open if r.date in daily else None,
            daily[r.date].close if r.date in daily else None,
        )
        for r in stats.daily(days, now.date())
    ]
    if interval == DAY:
        candles = list(daily.values())
    else:
        candles = stats.candles(interval, dt.datetime.combine(now.date(), dt.time()))
    return StatsView(days, now.date(), now, rows, interval, candles)


# --- charts ----------------------------------------------------------------------------


def _day_labels(view: StatsView) -> list[str | None]:
    return [f"{view.start + dt.timedelta(days=i):%m-%d}" for i in range(view.days)]


DAY_STEPS = (1, 2, 7, 14, 28)  # labels every day, other day, week, ...


def price_series(view: StatsView) -> Series:
    """Each day of the range: its low-high range with the VWAP marked."""
    by_day = {d.date: d for d in view.traded}
    slots = [
        Slot(d.high, d.low, mark=d.vwap) if (d := by_day.get(day)) else None
        for day in (view.start + dt.timedelta(days=i) for i in range(view.days))
    ]
    legend = (("│", "foreground", "low-high"), ("●", "primary", "VWAP"))
    return Series("ranges", slots, _day_labels(view), legend, label_steps=DAY_STEPS)


def volume_series(view: StatsView) -> Series:
    by_day = {d.date: d for d in view.traded}
    slots = [
        Slot(d.volume, Decimal(0)) if (d := by_day.get(day)) else None
        for day in (view.start + dt.timedelta(days=i) for i in range(view.days))
    ]
    return Series("bars", slots, _day_labels(view), places=2, label_steps=DAY_STEPS)


def candle_series(view: StatsView) -> Series:
    """One slot per interval from the first (midnight, or the range's first day) to
    the current one, empty where nothing traded."""
    if view.interval == DAY:
        first = dt.datetime.combine(view.start, dt.time())
        count = view.days
    else:
        first = dt.datetime.combine(view.today, dt.time())
        count = int((view.now - first).total_seconds()) // view.interval + 1
    step = dt.timedelta(seconds=view.interval)
    by_start = {c.start: c for c in view.candles}
    starts = [first + i * step for i in range(count)]
    slots = [
        Slot(c.high, c.low, c.open, c.close) if (c := by_start.get(when)) else None
        for when in starts
    ]
    legend = (("█", "success", "rising"), ("█", "error", "falling"))
    if view.interval == DAY:
        return Series("candles", slots, _day_labels(view), legend, label_steps=DAY_STEPS)
    labels = [f"{w:%H}h" if w.minute == 0 else None for w in starts]
    return Series("candles", slots, labels, legend, label_steps=(1, 2, 3, 4, 6, 12))


def candles_title(view: StatsView | None, interval: int) -> str:
    when = f"last {view.days} days" if view and interval == DAY else "today"
    return f"Candles, {INTERVALS[interval]}, {when} (UTC) · i: interval"


# --- the screen ------------------------------------------------------------------------


class StatsScreen(DataScreen):
    BINDINGS = [
        # short names: at 80 columns the app's Lock and Log out must still fit after them
        *(Binding(key, f"range({days})", f"{days}d") for key, days in RANGES.items()),
        Binding("i", "next_interval", "Interval"),
        Binding("c", "next_chart", "Chart"),
        Binding("t", "focus_table", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.days = 30
        self.interval = 3600
        self.chart = CHARTS[0]  # the one shown on a narrow terminal
        self.view: StatsView | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        with Grid(id="stats-grid"):
            with Vertical(id="daily-pane", classes="pane stats-pane"):
                yield Table(id="daily")
                yield EmptyNote(id="daily-empty")
            for name in ("candles", "price", "volume"):
                current = " -current" if name == self.chart else ""
                with Vertical(id=f"{name}-pane", classes=f"pane stats-pane chart-pane{current}"):
                    yield TextChart(id=f"{name}-chart")
        yield KeyFooter()

    def on_mount(self) -> None:
        # Open and Close are the day's first and last trade prices; the open-order
        # counts are not per day (a snapshot at the day's last trade) and are left out
        self.query_one("#daily", Table).add_columns(
            "Date", "Trades", "kWh", "Open", "High", "Low", "Close", "VWAP"
        )
        self._titles()
        super().on_mount()

    def on_resize(self) -> None:
        narrow = self.size.width < NARROW
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_chart":
            return self.has_class("-narrow")
        return True

    def refresh_data(self) -> None:
        if self.energy.session is not None:
            self.run_db(load, self.days, self.interval, then=self.show_view, group="stats")

    def show_view(self, view: StatsView) -> None:
        if (view.days, view.interval) != (self.days, self.interval):  # loaded before a switch
            return
        self.view = view
        self._titles()
        self._table(view)
        self._charts(view)

    def _titles(self) -> None:
        pane = self.query_one("#daily-pane")
        pane.border_title = f"Daily statistics, last {self.days} days"
        pane.border_subtitle = self.view.summary() if self.view else ""
        self.query_one("#candles-pane").border_title = candles_title(self.view, self.interval)
        days = f"last {self.days} days"
        self.query_one("#price-pane").border_title = f"Price per day, {days} (WATT/kWh)"
        self.query_one("#volume-pane").border_title = f"Volume per day, {days} (kWh)"

    def _table(self, view: StatsView) -> None:
        table = self.query_one("#daily", Table)
        table.clear()
        for d in reversed(view.rows):  # newest first
            table.add_row(*_day_cells(d), key=d.date.isoformat())
        self.query_one("#daily-empty", EmptyNote).show(_no_days(view.days))

    def _charts(self, view: StatsView) -> None:
        in_range = f"in the last {view.days} days"
        _show(self.query_one("#price-chart", TextChart), view.traded, price_series(view), in_range)
        _show(
            self.query_one("#volume-chart", TextChart), view.traded, volume_series(view), in_range
        )
        when = in_range if view.interval == DAY else "today"
        _show(self.query_one("#candles-chart", TextChart), view.candles, candle_series(view), when)

    def action_range(self, days: int) -> None:
        if days != self.days:
            self.days = days
            self._titles()
            self.refresh_data()

    def action_next_interval(self) -> None:
        choices = list(INTERVALS)
        self.interval = choices[(choices.index(self.interval) + 1) % len(choices)]
        self._titles()
        self.refresh_data()

    def action_next_chart(self) -> None:
        self.query_one(f"#{self.chart}-pane").remove_class("-current")
        self.chart = CHARTS[(CHARTS.index(self.chart) + 1) % len(CHARTS)]
        self.query_one(f"#{self.chart}-pane").add_class("-current")

    def action_focus_table(self) -> None:
        self.query_one("#daily", Table).focus()


def _no_days(days: int) -> str:
    longer = " or ".join(f"{key} ({n} days)" for key, n in RANGES.items() if n > days)
    more = f": try a longer range, {longer}" if longer else ""
    return f"No trades in the last {days} days{more}."


def _show(chart: TextChart, data: Sequence[object], series: Series, when: str) -> None:
    if data:
        chart.show(series)
    else:
        chart.show_empty(f"No trades {when}")


def _price(value: Decimal | None, traded: bool) -> Cell:
    shown = f"{value:.4f}" if traded and value is not None else "-"
    return number(value if value is not None else Decimal(0), shown)


def _day_cells(d: Day) -> tuple[Cell, ...]:
    traded = d.trades > 0
    return (
        Cell(d.date, d.date.isoformat()),
        number(d.trades, f"{d.trades:,}"),
        number(d.volume, f"{d.volume:,.2f}"),
        _price(d.open, traded),
        _price(d.high, traded),
        _price(d.low, traded),
        _price(d.close, traded),
        _price(d.vwap, traded),
    )
