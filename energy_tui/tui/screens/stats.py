"""Market statistics: the daily table, price and volume charts, today's candles."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import Footer, Header
from textual_plotext import Plot

from energy_tui import clock
from energy_tui.services.market import stats
from energy_tui.services.market.money import round_price
from energy_tui.services.market.stats import Candle
from energy_tui.tui.screens.base import DataScreen
from energy_tui.tui.widgets.banner import ConnectionBanner
from energy_tui.tui.widgets.cells import Cell, number
from energy_tui.tui.widgets.charts import Chart, Draw, Palette, sparse_ticks
from energy_tui.tui.widgets.tables import EmptyNote, Table

RANGES = {"w": 7, "m": 30, "q": 90}
CANDLE_SECONDS = 3600
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
    open_buys: int
    open_sells: int


@dataclasses.dataclass(frozen=True)
class StatsView:
    """Everything the screen shows, read in one worker call."""

    days: int
    today: dt.date
    rows: list[Day]  # oldest first; days without a row are absent
    candles: list[Candle]  # today's, oldest first

    @property
    def traded(self) -> list[Day]:
        return [d for d in self.rows if d.trades]

    def summary(self) -> str:
        trades = sum(d.trades for d in self.rows)
        volume = sum((d.volume for d in self.rows), Decimal(0))
        notional = sum((d.notional for d in self.rows), Decimal(0))
        vwap = f"VWAP {round_price(notional / volume)}" if volume else "no volume"
        return f"{trades:,} trades · {volume:,.2f} kWh · {vwap}"


def load(days: int) -> StatsView:
    now = clock.now()
    rows = [
        Day(
            r.date,
            r.total_trades,
            r.total_volume,
            r.notional,
            r.average_price,
            r.highest_price,
            r.lowest_price,
            r.active_buy_orders,
            r.active_sell_orders,
        )
        for r in stats.daily(days, now.date())
    ]
    midnight = dt.datetime.combine(now.date(), dt.time())
    return StatsView(days, now.date(), rows, stats.candles(CANDLE_SECONDS, midnight))


# --- charts ----------------------------------------------------------------------------


def _day_x(view: StatsView) -> list[int]:
    """x positions of the traded days: days since the start of the range."""
    start = view.today - dt.timedelta(days=view.days - 1)
    return [(d.date - start).days for d in view.traded]


def _day_axis(plt: Plot, view: StatsView, width: int) -> None:
    """Date labels under the x axis, thinned to fit (after the data is drawn)."""
    start = view.today - dt.timedelta(days=view.days - 1)
    labels = [f"{start + dt.timedelta(days=i):%m-%d}" for i in range(view.days)]
    ticks, shown = sparse_ticks(labels, width, cell=8)
    plt.xticks(ticks, shown)
    plt.xlim(-0.5, view.days - 0.5)
    plt.xlabel("day (UTC)")


def draw_prices(view: StatsView) -> Draw:
    def draw(plt: Plot, colour: Palette, width: int) -> None:
        days, x = view.traded, _day_x(view)
        for series, name, label in (("high", "success", "high"), ("low", "error", "low")):
            y = [float(getattr(d, series)) for d in days]
            plt.plot(x, y, color=colour(name), marker="braille", label=label)
        y = [float(d.vwap) for d in days]
        plt.plot(x, y, color=colour("primary"), marker="hd", label="VWAP")
        _day_axis(plt, view, width)
        plt.title(f"Price, last {view.days} days")
        plt.ylabel("WATT/kWh")

    return draw


def draw_volume(view: StatsView) -> Draw:
    def draw(plt: Plot, colour: Palette, width: int) -> None:
        y = [float(d.volume) for d in view.traded]
        # half-block bars: full-cell ones merge into one block at a few columns a day
        x = _day_x(view)
        plt.bar(x, y, color=colour("accent"), width=0.5, marker="hd", reset_ticks=False)
        _day_axis(plt, view, width)
        plt.title(f"Volume, last {view.days} days")
        plt.ylabel("kWh")

    return draw


def draw_candles(view: StatsView) -> Draw:
    def draw(plt: Plot, colour: Palette, width: int) -> None:
        candles = view.candles
        hours = [c.start.hour for c in candles]
        data = {
            "Open": [float(c.open) for c in candles],
            "Close": [float(c.close) for c in candles],
            "High": [float(c.high) for c in candles],
            "Low": [float(c.low) for c in candles],
        }
        # plotext's stub wants date strings; hours as numbers plot (and tick) as well
        plt.candlestick(hours, data, colors=[colour("success"), colour("error")])  # type: ignore[arg-type]
        first, last = min(hours), max(hours)
        labels = [f"{h:02d}h" for h in range(first, last + 1)]
        ticks, shown = sparse_ticks(labels, width, cell=6)
        plt.xticks([first + t for t in ticks], shown)
        plt.xlim(first - 0.7, last + 0.7)
        plt.title(f"Today {view.today:%Y-%m-%d}, 1 h candles")
        plt.xlabel("hour (UTC)")
        plt.ylabel("WATT/kWh")

    return draw


# --- the screen ------------------------------------------------------------------------


class StatsScreen(DataScreen):
    BINDINGS = [
        *(Binding(key, f"range({days})", f"{days} days") for key, days in RANGES.items()),
        Binding("c", "next_chart", "Next chart"),
        Binding("t", "focus_table", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.days = 30
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
                    yield Chart(id=f"{name}-chart")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#daily", Table).add_columns(
            "Date", "Trades", "kWh", "VWAP", "High", "Low", "Bids", "Asks"
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
            self.run_db(load, self.days, then=self.show_view, group="stats")

    def show_view(self, view: StatsView) -> None:
        if view.days != self.days:  # an older range, loaded after a switch
            return
        self.view = view
        self._titles()
        self._table(view)
        self._charts(view)

    def _titles(self) -> None:
        pane = self.query_one("#daily-pane")
        pane.border_title = f"Daily statistics, last {self.days} days"
        pane.border_subtitle = self.view.summary() if self.view else ""

    def _table(self, view: StatsView) -> None:
        table = self.query_one("#daily", Table)
        table.clear()
        for d in reversed(view.rows):  # newest first
            table.add_row(*_day_cells(d), key=d.date.isoformat())
        self.query_one("#daily-empty", EmptyNote).show(_no_days(view.days))

    def _charts(self, view: StatsView) -> None:
        range_words = f"in the last {view.days} days"
        _show(self.query_one("#price-chart", Chart), view.traded, draw_prices(view), range_words)
        _show(self.query_one("#volume-chart", Chart), view.traded, draw_volume(view), range_words)
        _show(self.query_one("#candles-chart", Chart), view.candles, draw_candles(view), "today")

    def action_range(self, days: int) -> None:
        if days != self.days:
            self.days = days
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


def _show(chart: Chart, data: Sequence[object], draw: Draw, when: str) -> None:
    if data:
        chart.show(draw)
    else:
        chart.show_empty(f"No trades {when}")


def _day_cells(d: Day) -> tuple[Cell, ...]:
    traded = d.trades > 0
    return (
        Cell(d.date, d.date.isoformat()),
        number(d.trades, f"{d.trades:,}"),
        number(d.volume, f"{d.volume:,.2f}"),
        number(d.vwap, f"{d.vwap:.4f}" if traded else "-"),
        number(d.high, f"{d.high:.4f}" if traded else "-"),
        number(d.low, f"{d.low:.4f}" if traded else "-"),
        number(d.open_buys, str(d.open_buys)),
        number(d.open_sells, str(d.open_sells)),
    )
