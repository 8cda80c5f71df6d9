"""The Statistics screen (F3): the daily table, the range keys, the charts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static
from textual_plotext import PlotextPlot

from energy_tui.tui.screens.stats import StatsScreen
from energy_tui.tui.widgets.charts import Chart
from energy_tui.tui.widgets.tables import Table
from tests.tui_identity_support import settle, table_rows
from tests.tui_market_support import TRADES, play, seeded_market

Scenario = Callable[[Pilot, StatsScreen], Awaitable[None]]
# the fixture's four days in March, one in January (for 90 days) and two trades today
MORE_TRADES = (
    (dt.datetime(2026, 1, 20, 15), "bob-home", "carol-home", "4.00", "0.1500"),
    *TRADES,
    (dt.datetime(2026, 3, 10, 9, 15), "alice-home", "bob-home", "1.00", "0.1800"),
    (dt.datetime(2026, 3, 10, 11, 5), "carol-home", "bob-home", "2.00", "0.1900"),
)


@pytest.fixture
def database(tmp_path: Path):
    return seeded_market(tmp_path, MORE_TRADES)


def run(database, scenario: Scenario, size=(120, 36)) -> None:
    play(database, "viewer", "f3", StatsScreen, scenario, size)


def rows(screen: StatsScreen) -> list[list[str]]:
    return table_rows(screen.query_one("#daily", Table))


def chart_text(screen: StatsScreen, name: str) -> str:
    """What the chart shows: the plot as text, or its no-data message."""
    chart = screen.query_one(f"#{name}-chart", Chart)
    if chart.has_class("-empty"):
        return "EMPTY: " + str(chart.query_one(".chart-empty", Static).content)
    return chart.query_one(PlotextPlot).render().plain  # type: ignore[union-attr]


def test_daily_table_shows_each_traded_day_newest_first(database) -> None:
    async def scenario(pilot: Pilot, screen: StatsScreen) -> None:
        assert [r[:6] for r in rows(screen)] == [
            ["2026-03-10", "2", "3.00", "0.1867", "0.1900", "0.1800"],
            ["2026-03-07", "1", "3.00", "0.2000", "0.2000", "0.2000"],
            ["2026-03-05", "1", "0.10", "0.3333", "0.3333", "0.3333"],
            ["2026-03-03", "1", "2.50", "0.1234", "0.1234", "0.1234"],
            ["2026-03-01", "1", "1.25", "0.1000", "0.1000", "0.1000"],
        ]
        assert rows(screen)[0][6:] == ["0", "0"]  # no order left open
        pane = screen.query_one("#daily-pane")
        assert pane.border_title == "Daily statistics, last 30 days"
        assert pane.border_subtitle == "6 trades · 9.85 kWh · VWAP 0.1652"

    run(database, scenario)


def test_range_keys_change_the_days_shown(database) -> None:
    async def scenario(pilot: Pilot, screen: StatsScreen) -> None:
        assert len(rows(screen)) == 5
        await pilot.press("w")
        await settle(pilot)
        assert [r[0] for r in rows(screen)] == ["2026-03-10", "2026-03-07", "2026-03-05"]
        assert "last 7 days" in chart_text(screen, "price")
        await pilot.press("q")
        await settle(pilot)
        assert len(rows(screen)) == 6 and rows(screen)[-1][0] == "2026-01-20"
        assert "last 90 days" in chart_text(screen, "volume")
        await pilot.press("m")
        await settle(pilot)
        assert len(rows(screen)) == 5

    run(database, scenario)


def test_charts_have_titles_axis_labels_and_todays_candles(database) -> None:
    async def scenario(pilot: Pilot, screen: StatsScreen) -> None:
        price = chart_text(screen, "price")
        assert "Price, last 30 days" in price
        assert "WATT/kWh" in price and "day (UTC)" in price
        assert "high" in price and "low" in price and "VWAP" in price
        volume = chart_text(screen, "volume")
        assert "Volume, last 30 days" in volume and "kWh" in volume
        candles = chart_text(screen, "candles")
        assert "Today 2026-03-10, 1 h candles" in candles
        assert "09h" in candles and "11h" in candles and "hour (UTC)" in candles
        assert screen.view is not None
        assert [(c.start.hour, str(c.open), str(c.close)) for c in screen.view.candles] == [
            (9, "0.1800", "0.1800"),
            (11, "0.1900", "0.1900"),
        ]

    run(database, scenario)


def test_charts_say_there_is_nothing_to_plot(tmp_path: Path) -> None:
    database = seeded_market(tmp_path, trades=())

    async def scenario(pilot: Pilot, screen: StatsScreen) -> None:
        assert rows(screen) == []
        assert chart_text(screen, "price") == "EMPTY: No trades in the last 30 days"
        assert chart_text(screen, "volume") == "EMPTY: No trades in the last 30 days"
        assert chart_text(screen, "candles") == "EMPTY: No trades today"
        assert screen.query_one("#daily-pane").border_subtitle == "0 trades · 0.00 kWh · no volume"

    run(database, scenario)


def test_a_narrow_terminal_shows_one_chart_and_c_shows_the_next(database) -> None:
    def shown(screen: StatsScreen) -> list[str]:
        return [pane.id or "" for pane in screen.query(".chart-pane") if pane.display]

    async def scenario(pilot: Pilot, screen: StatsScreen) -> None:
        assert screen.has_class("-narrow")
        assert shown(screen) == ["price-pane"]
        await pilot.press("c")
        await pilot.pause()
        assert shown(screen) == ["volume-pane"]
        await pilot.press("c", "c")
        await pilot.pause()
        assert shown(screen) == ["price-pane"]

    run(database, scenario, size=(80, 24))


def test_a_range_without_trades_says_so_and_offers_the_longer_ones(tmp_path: Path) -> None:
    quiet = seeded_market(tmp_path, TRADES[:1])  # March 1st only

    async def scenario(pilot: Pilot, screen: StatsScreen) -> None:
        await pilot.press("w")
        await settle(pilot)
        note = screen.query_one("#daily-empty", Static)
        assert rows(screen) == [] and note.display
        assert str(note.content) == (
            "No trades in the last 7 days: try a longer range, m (30 days) or q (90 days)."
        )
        await pilot.press("m")
        await settle(pilot)
        assert len(rows(screen)) == 1 and not note.display

    run(quiet, scenario)
