"""Charts drawn cell by cell: OHLC candles with wicks, daily ranges, volume bars.

Every line the widget renders is exactly as wide as the widget and there are exactly
as many lines as it is high, so nothing is ever drawn outside its panel. The y axis
has round-number ticks, evenly spaced (1, 2 or 5 x 10^k apart, each on its own row
the same number of rows apart); the legend has a row of its own above the plot.
Vertical resolution is half a cell (▀ ▄ █), enough to tell a body from its wick.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.color import Color
from textual.widget import Widget

STEPS = (Decimal(1), Decimal(2), Decimal(5))
MIN_ROWS_PER_TICK = 2
LABEL_GAP = 2  # columns between two x labels


@dataclasses.dataclass(frozen=True)
class Slot:
    """One x position: a candle (open/close set), a range (low-high with an optional
    mark, such as the VWAP), or a bar (low 0); None fields: nothing traded."""

    high: Decimal
    low: Decimal
    open: Decimal | None = None
    close: Decimal | None = None
    mark: Decimal | None = None


@dataclasses.dataclass(frozen=True)
class Series:
    kind: str  # candles | ranges | bars
    slots: Sequence[Slot | None]  # one per x position, oldest first; None: no trade
    labels: Sequence[str | None]  # x label per slot (None: no label there)
    legend: Sequence[tuple[str, str, str]] = ()  # (symbol, theme colour, words)
    places: int = 4  # decimals of the y tick labels at most
    label_steps: Sequence[int] = (1, 2, 3, 4, 6, 12, 24)  # show every k-th label, k from these


def nice_ticks(low: Decimal, high: Decimal, most: int) -> list[Decimal]:
    """At most `most` (>= 2) round, evenly spaced values from one at or below `low` to
    one at or above `high`: the smallest step of 1, 2 or 5 x 10^k that fits."""
    most = max(2, most)
    if high <= low:
        high = low + max(abs(low) / 100, Decimal("0.0001"))
    exponent = (high - low).adjusted() - 2
    while True:
        for base in STEPS:
            step = base.scaleb(exponent)
            first = (low / step).to_integral_value(ROUND_FLOOR) * step
            last = (high / step).to_integral_value(ROUND_CEILING) * step
            count = int((last - first) / step) + 1
            if count <= most:
                places = Decimal(1).scaleb(min(0, exponent))  # 50, not 5E+1
                return [(first + i * step).quantize(places) for i in range(count)]
        exponent += 1


def tick_text(value: Decimal, step: Decimal, places: int) -> str:
    """A tick label with as many decimals as the step needs (0.15, 0.20; 40, 60)."""
    decimals = min(places, max(0, -step.normalize().as_tuple().exponent))  # type: ignore[operator]
    return f"{value:,.{decimals}f}"


class TextChart(Widget):
    """`show(series)` draws; `show_empty(message)` says why there is nothing."""

    DEFAULT_CSS = """
    TextChart { height: 1fr; width: 1fr; }
    """

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.series: Series | None = None
        self.message = ""

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    def show(self, series: Series) -> None:
        self.series, self.message = series, ""
        self.refresh()

    def show_empty(self, message: str) -> None:
        self.series, self.message = None, message
        self.refresh()

    def colour(self, name: str) -> Style:
        """A theme variable's colour; "muted" is the foreground, dimmed (the theme's
        text-muted is `auto 60%`, a blend only Textual's CSS resolves)."""
        variables = self.app.theme_variables
        if name == "muted":
            return Style(
                color=Color.parse(variables.get("foreground", "white")).rich_color, dim=True
            )
        raw = variables.get(name) or variables.get("foreground") or "white"
        return Style(color=Color.parse(raw).rich_color)

    def render(self) -> RenderResult:
        width, height = self.size.width, self.size.height
        if self.series is None or width < 12 or height < 5:
            text = Text(self.message, style=self.colour("muted"), justify="center")
            return _fit([text], width, height, middle=True)
        return _fit(Plot(self, self.series, width, height).lines(), width, height)


def _fit(lines: list[Text], width: int, height: int, *, middle: bool = False) -> Text:
    """Exactly `height` lines of exactly `width` cells."""
    lines = lines[:height]
    if middle:
        lines = [Text()] * max(0, (height - len(lines)) // 2) + lines
    lines += [Text()] * (height - len(lines))
    out = Text(no_wrap=True, overflow="crop", end="")
    for i, line in enumerate(lines):
        line = line.copy()
        if line.justify == "center":
            line.pad_left(max(0, (width - line.cell_len) // 2))
        line.truncate(width, overflow="crop", pad=True)
        out.append_text(line)
        if i < height - 1:
            out.append("\n")
    return out


class Plot:
    """One drawing of a series into a grid of (character, style) cells."""

    def __init__(self, chart: TextChart, series: Series, width: int, height: int) -> None:
        self.chart, self.series, self.width, self.height = chart, series, width, height
        self.muted = chart.colour("muted")

    def lines(self) -> list[Text]:
        s = self.series
        legend = [self._legend()] if s.legend else []
        rows = self.height - len(legend) - 2  # the x axis line and its labels
        values = [v for slot in s.slots if slot for v in (slot.low, slot.high)]
        if not values:
            return [Text("nothing to plot", style=self.muted, justify="center")]
        if s.kind == "bars":
            values.append(Decimal(0))
        ticks, per = _axis(min(values), max(values), rows)
        step = ticks[1] - ticks[0]
        # ticks exactly `per` rows apart from the bottom row; rows left over above the
        # top tick extend the scale (unlabelled), so the plot uses its whole height
        used = rows
        labels = {used - 1 - i * per: tick_text(t, step, s.places) for i, t in enumerate(ticks)}
        top = ticks[0] + step * Decimal(used - 1) / per
        margin = max(len(text) for text in labels.values()) + 1
        columns = self.width - margin - 1
        slots, skipped = list(s.slots), 0
        wide = max(1, min(6, columns // max(1, len(slots))))
        shown = columns // wide
        if len(slots) > shown:  # the most recent that fit
            skipped = len(slots) - shown
            slots = slots[skipped:]
        grid = Grid(columns, used, self.muted)
        scale = Scale(ticks[0], top, used)
        for row in labels:
            grid.rule(row)
        for i, slot in enumerate(slots):
            if slot is not None:
                self._draw(grid, scale, slot, i * wide, wide)
        body: list[Text] = []
        for row in range(used):
            line = Text(labels.get(row, "").rjust(margin - 1) + " ", style=self.muted)
            line.append("┤" if row in labels else "│", style=self.muted)
            line.append_text(grid.text(row))
            body.append(line)
        axis = Text(" " * margin + "└" + "─" * columns, style=self.muted)
        return [*legend, *body, axis, self._xlabels(list(s.labels), skipped, margin + 1, wide)]

    def _legend(self) -> Text:
        text = Text(" ")
        for symbol, colour, words in self.series.legend:
            text.append(symbol, style=self.chart.colour(colour))
            text.append(f" {words}   ", style=self.muted)
        return text

    def _draw(self, grid: Grid, scale: Scale, slot: Slot, x: int, wide: int) -> None:
        kind = self.series.kind
        centre = x + (wide - 1) // 2
        if kind == "bars":
            style = self.chart.colour("accent")
            for column in range(x, x + max(1, wide - 1)):
                grid.bar(column, scale.eighths(slot.high), style)
            return
        top, bottom = scale.half(slot.high), scale.half(slot.low)
        if kind == "ranges":
            grid.wick(centre, top, bottom, self.chart.colour("foreground"))
            if slot.mark is not None:
                grid.mark(centre, scale.half(slot.mark), "●", self.chart.colour("primary"))
            return
        opened = slot.open if slot.open is not None else slot.low
        closed = slot.close if slot.close is not None else slot.high
        style = self.chart.colour("success" if closed >= opened else "error")
        grid.wick(centre, top, bottom, style)
        body = scale.half(max(opened, closed)), scale.half(min(opened, closed))
        # a body three columns wide when there is room, else one, over its wick
        for column in (centre - 1, centre, centre + 1) if wide >= 5 else (centre,):
            grid.block(column, *body, style)

    def _xlabels(self, labels: list[str | None], skipped: int, left: int, wide: int) -> Text:
        """Every k-th label (k from the series' label_steps, the least that keeps them
        LABEL_GAP columns apart), counted from the series' first label even when the
        chart starts later (the most recent that fit), so they fall on round values."""
        marked = [i for i, text in enumerate(labels) if text]
        if not marked:
            return Text()
        longest = max(len(labels[i] or "") for i in marked)
        spacing = min((b - a for a, b in itertools.pairwise(marked)), default=1)
        steps = [k for k in self.series.label_steps if spacing * k * wide >= longest + LABEL_GAP]
        every = spacing * (steps[0] if steps else len(labels))
        cells = [" "] * self.width
        for i in marked:
            if (i - marked[0]) % every or i < skipped:
                continue
            text = labels[i] or ""
            start = left + (i - skipped) * wide + (wide - 1) // 2 - len(text) // 2
            if start < 0 or start + len(text) > self.width:
                continue
            cells[start : start + len(text)] = list(text)
        return Text("".join(cells), style=self.muted)


def _axis(low: Decimal, high: Decimal, rows: int) -> tuple[list[Decimal], int]:
    """Round ticks from `low` to `high` (as many as fit with 2 rows between two ticks
    on a short chart, 3 on a taller one) and the rows from one tick to the next."""
    gap = MIN_ROWS_PER_TICK if rows < 16 else MIN_ROWS_PER_TICK + 1
    ticks = nice_ticks(low, high, 1 + (rows - 1) // gap)
    return ticks, max(1, (rows - 1) // max(1, len(ticks) - 1))


class Scale:
    """Values to half-rows: 0 is the top half of the top row."""

    def __init__(self, bottom: Decimal, top: Decimal, rows: int) -> None:
        self.bottom, self.top, self.halves = bottom, top, rows * 2

    def eighths(self, value: Decimal) -> int:
        """How many eighths of a row a bar from the bottom up to `value` fills."""
        share = (value - self.bottom) / (self.top - self.bottom)
        return max(0, int(share * ((self.halves // 2 - 1) * 8) + 4 + Decimal("0.5")))

    def half(self, value: Decimal) -> int:
        share = (self.top - value) / (self.top - self.bottom)
        return min(self.halves - 1, max(0, int(share * (self.halves - 1) + Decimal("0.5"))))


class Grid:
    """Cells of the plot area: what each shows, in half-rows."""

    def __init__(self, columns: int, rows: int, muted: Style) -> None:
        self.columns, self.rows, self.muted = columns, rows, muted
        self.cells: list[list[tuple[str, Style | None]]] = [
            [(" ", None)] * columns for _ in range(rows)
        ]

    def rule(self, row: int) -> None:
        """A faint line at a y tick, under whatever is drawn on it."""
        self.cells[row] = [("┈", Style(color=self.muted.color, dim=True))] * self.columns

    def _set(self, column: int, row: int, char: str, style: Style) -> None:
        if 0 <= column < self.columns and 0 <= row < self.rows:
            self.cells[row][column] = (char, style)

    def block(self, column: int, top: int, bottom: int, style: Style) -> None:
        """Fill half-rows top..bottom (inclusive) of one column: ▀ ▄ █."""
        for row in range(top // 2, bottom // 2 + 1):
            upper = top <= 2 * row <= bottom
            lower = top <= 2 * row + 1 <= bottom
            self._set(column, row, "█" if upper and lower else "▀" if upper else "▄", style)

    def bar(self, column: int, eighths: int, style: Style) -> None:
        """A bar from the bottom row up, `eighths` eighths of a row high: ▁ to █."""
        for row in range(self.rows - 1, -1, -1):
            fill = min(8, eighths)
            if fill <= 0:
                break
            self._set(column, row, " ▁▂▃▄▅▆▇█"[fill], style)
            eighths -= 8

    def wick(self, column: int, top: int, bottom: int, style: Style) -> None:
        """A thin line over half-rows top..bottom: │, or ╵ ╷ for a half row."""
        for row in range(top // 2, bottom // 2 + 1):
            upper = top <= 2 * row <= bottom
            lower = top <= 2 * row + 1 <= bottom
            self._set(column, row, "│" if upper and lower else "╵" if upper else "╷", style)

    def mark(self, column: int, half: int, char: str, style: Style) -> None:
        self._set(column, half // 2, char, style)

    def text(self, row: int) -> Text:
        line = Text()
        for char, style in self.cells[row]:
            line.append(char, style=style)
        return line
