"""A plotext chart that says so in words when it has nothing to plot.

Drawing is a function of the chart's `Plot` (`draw(plt)`), so the screen decides what
to plot and the chart redraws it on its own when the theme or the size changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias

from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import Plot, PlotextPlot

Draw: TypeAlias = Callable[[Plot, "Palette", int], None]  # plot, colours, width
RGB: TypeAlias = tuple[int, int, int]


class Palette:
    """The app theme's colours as plotext wants them (RGB tuples)."""

    def __init__(self, variables: dict[str, str]) -> None:
        self.variables = variables

    def __call__(self, name: str) -> RGB:
        """`palette("primary")`: a theme variable's colour (the foreground if unset)."""
        raw = self.variables.get(name) or self.variables.get("foreground") or "white"
        return Color.parse(raw).rgb


class Chart(Vertical):
    DEFAULT_CSS = """
    Chart { height: 1fr; }
    Chart > .chart-empty {
        height: 1fr;
        content-align: center middle;
        color: $text-muted;
        display: none;
    }
    Chart.-empty > .chart-empty { display: block; }
    Chart.-empty > PlotextPlot { display: none; }
    """

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self._draw: Draw | None = None

    def compose(self) -> ComposeResult:
        yield PlotextPlot()
        yield Static("", classes="chart-empty")

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())

    def on_resize(self) -> None:
        self._redraw()  # tick labels are thinned to the width

    @property
    def plot(self) -> PlotextPlot:
        return self.query_one(PlotextPlot)

    def show(self, draw: Draw) -> None:
        self._draw = draw
        self.remove_class("-empty")
        self._redraw()

    def show_empty(self, message: str) -> None:
        self._draw = None
        self.query_one(".chart-empty", Static).update(message)
        self.add_class("-empty")

    def _redraw(self) -> None:
        if self._draw is None:
            return
        plt = self.plot.plt
        plt.clear_figure()
        self._draw(plt, Palette(self.app.theme_variables), self.plot.size.width)
        self.plot.refresh()


# Columns of a chart that are not x axis: the y tick labels and the frame.
AXIS_COLUMNS = 10


def sparse_ticks(labels: Sequence[str], width: int, cell: int = 8) -> tuple[list[float], list[str]]:
    """Every k-th of `labels` (at x = 0..n-1), so that they fit the x axis of a chart
    `width` columns wide, `cell` columns each. Give each label its length plus three:
    plotext drops or shifts a label that comes within a column of the previous one,
    and which one it picks changes from run to run (it depends on string hashing)."""
    if not labels:
        return [], []
    room = max(2, (width - AXIS_COLUMNS) // cell)
    step = max(1, -(-len(labels) // room))
    positions = range(0, len(labels), step)
    return [float(i) for i in positions], [labels[i] for i in positions]
