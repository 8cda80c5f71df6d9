"""The Statistics screen (F3): the daily table, the range keys, the charts (issue 12:
candles with wicks in two colours, 15 min / 1 h / 1 day, round and even ticks, nothing
outside its panel, no column that is not per day)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from energy_tui.tui.screens.stats import StatsScreen
from energy_tui.tui.widgets.tables import Table
from energy_tui.tui.widgets.textchart import TextChart
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
# today's hours as candles: 09h rises (0.18 -> 0.20, low 0.17), 10h falls (0.24 -> 0.21,
# high 0.26): bodies with wicks above and below, in two colours
CANDLE_TRADES = (
    *TRADES,
    (dt.datetime(2026, 3, 10, 9, 5), "alice-home", "bob-home", "1.00", "0.1800"),
    (dt.datetime(2026, 3, 10, 9, 20), "carol-home", "bob-home", "1.00", "0.1700"),
    (dt.datetime(2026, 3, 10, 9, 40), "alice-home", "carol-home", "1.00", "0.2200"),
    (dt.datetime(2026, 3, 10, 9, 55), "carol-home", "bob-home", "1.00", "0.2000"),
    (dt.datetime(2026, 3, 10, 10, 5), "alice-home", "bob-home", "1.00", "0.2400"),
    (dt.datetime(2026, 3, 10, 10, 20), "carol-home", "bob-home", "1.00", "0.2600"),
    (dt.datetime(2026, 3, 10, 10, 40), "alice-home", "carol-home", "1.00", "0.2000"),
    (dt.datetime(2026, 3, 10, 10, 55), "carol-home", "bob-home", "1.00", "0.2100"),
)


@pytest.fixture
def database(tmp_path: Path):
    return seeded_market(tmp_path, MORE_TRADES)


def run(database, scenario: Scenario, size=(120, 36)) -> None:
    play(database, "viewer", "f3", StatsScreen, scenario, size)


def rows(screen: StatsScreen) -> list[list[str]]:
    return table_rows(screen.query_one("#daily", Table))


def rendered(screen: StatsScreen, name: str) -> Text:
    return screen.query_one(f"#{name}-chart", TextChart).render()  # type: ignore[return-value]


def chart_text(screen: StatsScreen, name: str) -> str:
    """What the chart shows (its pane's title first): the plot as text, or its
    no-data message."""
    chart = screen.query_one(f"#{name}-chart", TextChart)
    title = str(screen.query_one(f"#{name}-pane").border_title)
    if chart.series is None:
        return "EMPTY: " + chart.message
    return f"{title}\n{rendered(screen, name).plain}"


def y_ticks(text: str) -> list[tuple[int, Decimal]]:
    """(row, value) of each labelled y tick of a chart's text."""
    ticks = []
    for row, line in enumerate(text.splitlines()):
        label, mark, _ = line.partition("┤")
        if mark and label.strip():
            ticks.append((row, Decimal(label.strip().replace(",", ""))))
    return ticks


def test_daily_table_shows_each_traded_day_newest_first(database) -> None:
    async def scenario(pilot: Pilot, screen: StatsScreen) -> None:
        # Date, Trades, kWh, Open, High, Low, Close, VWAP: all of that day
        assert rows(screen) == [
            ["2026-03-10", "2", "3.00", "0.1800", "0.1900", "0.1800", "0.1900", "0.1867"],
            ["2026-03-07", "1", "3.00", "0.2000", "0.2000", "0.2000", "0.2000", "0.2000"],
            ["2026-03-05", "1", "0.10", "0.3333", "0.3333", "0.3333", "0.3333", "0.3333"],
            ["2026-03-03", "1", "2.50", "0.1234", "0.1234", "0.1234", "0.1234", "0.1234"],
            ["2026-03-01", "1", "1.25", "0.1000", "0.1000", "0.1000", "0.1000", "0.1000"],
        ]
        headers = [str(c.label) for c in screen.query_one("#daily", Table).columns.values()]
        assert "Bids" not in headers and "Asks" not in headers  # the book now, not the day's
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
        assert "Price per day, last 30 days (WATT/kWh)" in price
        assert "low-high" in price and "VWAP" in price and "03-09" in price
        volume = chart_text(screen, "volume")
        assert "Volume per day, last 30 days (kWh)" in volume
        candles = chart_text(screen, "candles")
        assert "Candles, 1 h, today (UTC)" in candles
        assert "rising" in candles and "falling" in candles and "00h" in candles
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


def test_candles_have_wicks_and_rise_and_fall_in_two_colours(tmp_path: Path) -> None:
    database = seeded_market(tmp_path, CANDLE_TRADES)

    def colours_of(text: Text, chars: str) -> set[str]:
        return {
            str(span.style).lower()
            for span in text.spans
            if text.plain[span.start : span.end].strip()
            and set(text.plain[span.start : span.end]) <= set(chars)
        }

    async def scenario(pilot: Pilot, screen: StatsScreen) -> None:
        text = rendered(screen, "candles")
        plot = [
            line.partition("┤")[2] or line.partition("│")[2] for line in text.plain.splitlines()
        ]
        theme = screen.app.theme_variables
        rising, falling = theme["success"].lower(), theme["error"].lower()
        assert colours_of(text, "▀▄█") >= {rising, falling}  # bodies: 09h up, 10h down
        assert colours_of(text, "│╵╷") >= {rising, falling}  # and their wicks
        body_rows = [i for i, line in enumerate(plot) if any(c in line for c in "▀▄█")]
        wick_rows = [i for i, line in enumerate(plot) if any(c in line for c in "╵╷")]
        wick_rows += [i for i, line in enumerate(plot) if "│" in line.strip(" ┈")]
        assert min(wick_rows) < min(body_rows) and max(wick_rows) > max(body_rows)

    run(database, scenario)


def test_i_switches_the_candles_between_15_min_1_h_and_1_day(tmp_path: Path) -> None:
    database = seeded_market(tmp_path, CANDLE_TRADES)

    async def scenario(pilot: Pilot, screen: StatsScreen) -> None:
        titles: list[object] = []
        charts: list[str] = []
        for _ in range(3):
            assert screen.view is not None
            titles.append((screen.view.interval, len(screen.view.candles)))
            titles.append(str(screen.query_one("#candles-pane").border_title))
            charts.append(chart_text(screen, "candles"))
            await pilot.press("i")
            await settle(pilot)
        assert titles == [
            (3600, 2),
            "Candles, 1 h, today (UTC) · i: interval",
            (86400, 5),
            "Candles, 1 day, last 30 days (UTC) · i: interval",
            (900, 8),
            "Candles, 15 min, today (UTC) · i: interval",
        ]
        assert "03-09" in charts[1]  # days under the daily candles, hours under the others
        assert "08h" in charts[2] and "10h" in charts[2]  # every 2 h, on even hours
        assert screen.view is not None and screen.view.interval == 3600  # round again

    run(database, scenario)


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (200, 50)])
def test_charts_stay_inside_their_panels_with_round_even_ticks(tmp_path: Path, size) -> None:
    database = seeded_market(tmp_path, CANDLE_TRADES)

    async def scenario(pilot: Pilot, screen: StatsScreen) -> None:
        for name in ("candles", "price", "volume"):
            chart = screen.query_one(f"#{name}-chart", TextChart)
            if not chart.display or chart.size.width == 0:
                continue
            text = rendered(screen, name)
            lines = text.split("\n")
            assert len(lines) == chart.size.height, name
            assert {line.cell_len for line in lines} == {chart.size.width}, name
            ticks = y_ticks(text.plain)
            assert len(ticks) >= 2, (name, text.plain)
            gaps = {b[0] - a[0] for a, b in itertools.pairwise(ticks)}
            steps = {a[1] - b[1] for a, b in itertools.pairwise(ticks)}
            assert len(gaps) == 1 and len(steps) == 1, (name, ticks)
            step = steps.pop()
            assert step.normalize().as_tuple().digits[0] in (1, 2, 5), (name, step)
            assert all(value % step == 0 for _, value in ticks), (name, ticks)

    run(database, scenario, size=size)
