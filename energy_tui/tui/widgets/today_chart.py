"""A small chart of today's price beside the ladder: the close of each quarter hour,
on round-number ticks that take in the day's high and low."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from textual_plotext import Plot

from energy_tui.services.market.stats import Candle
from energy_tui.tui.widgets.charts import Chart, Draw, Palette

BUCKET_SECONDS = 900  # a quarter of an hour
STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


def round_ticks(low: float, high: float, most: int) -> list[float]:
    """Evenly spaced round numbers (1, 2, 2.5 or 5 times a power of ten), at most about
    `most`, inside [low, high]; the two round numbers around them when none or one is."""
    span = high - low or abs(high) / 10 or 1.0
    raw = span / max(1, most - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(s * power for s in STEPS if s * power >= raw * (1 - 1e-9))
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    if last - first < 1:
        first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
        last = max(last, first + 1)
    return [round(k * step, 10) for k in range(first, last + 1)]


def decimals_of(ticks: Sequence[float]) -> int:
    """Decimals enough to tell the ticks apart, and no more."""
    step = Decimal(repr(round(ticks[1] - ticks[0], 10))) if len(ticks) > 1 else Decimal(1)
    exponent = step.normalize().as_tuple().exponent
    return max(0, min(4, -exponent)) if isinstance(exponent, int) else 0


def hour_of(candle: Candle) -> float:
    start = candle.start
    return start.hour + start.minute / 60 + start.second / 3600


def draw_today(candles: Sequence[Candle], height: int) -> Draw:
    """The closes of `candles` (today's, oldest first, not empty) as a line."""

    def draw(plt: Plot, colour: Palette, width: int) -> None:
        x = [hour_of(c) + BUCKET_SECONDS / 7200 for c in candles]  # at the middle of each
        y = [float(c.close) for c in candles]
        low, high = min(float(c.low) for c in candles), max(float(c.high) for c in candles)
        ticks = round_ticks(low, high, max(3, (height - 4) // 3))
        places = decimals_of(ticks)
        bottom, top = min(low, ticks[0]), max(high, ticks[-1])
        margin = (top - bottom) / 50  # the line never sits on the frame
        first, last = math.floor(x[0]), math.ceil(x[-1])
        plt.plot(x, y, color=colour("primary"), marker="braille")
        plt.yticks(ticks, [f"{t:.{places}f}" for t in ticks])
        plt.ylim(bottom - margin, top + margin)
        hours = _hour_ticks(first, last, width)
        plt.xticks([float(h) for h in hours], [f"{h:02d}h" for h in hours])
        plt.xlim(first, max(last, first + 1))

    return draw


def _hour_ticks(first: int, last: int, width: int) -> list[int]:
    """Whole hours, every 1, 2, 3, 4 or 6, as many as fit a label each 6 columns."""
    room = max(2, (width - 12) // 6)
    step = next((s for s in (1, 2, 3, 4, 6) if (last - first) // s + 1 <= room), 12)
    return list(range(first - first % step, last + 1, step))


class TodayChart(Chart):
    """Shown beside the ladder on a wide terminal; the screen hands it what to draw."""

    def show_today(self, candles: Sequence[Candle]) -> None:
        if not candles:
            self.show_empty("No trades today yet")
            return
        self.show(draw_today(candles, self.size.height or 12))
