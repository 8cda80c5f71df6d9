"""The ladder's chart of today: round, evenly spaced ticks that stay inside the data."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from energy_tui.tui.widgets.today_chart import decimals_of, round_ticks


@pytest.mark.parametrize(
    ("low", "high", "most", "expected"),
    [
        (0.1443, 0.3070, 10, [0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3]),
        (0.1463, 0.2160, 5, [0.16, 0.18, 0.2]),
        (0.193, 0.216, 4, [0.2, 0.21]),  # the uneven 0.216, 0.204, 0.193 seen on stats
        (0.2001, 0.2009, 4, [0.2, 0.2005, 0.201]),  # too narrow: the two around it
    ],
)
def test_ticks_are_round_even_and_inside_the_prices(low, high, most, expected) -> None:
    ticks = round_ticks(low, high, most)
    assert ticks == expected
    steps = {round(b - a, 10) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1


def test_tick_labels_have_the_decimals_the_step_needs() -> None:
    assert decimals_of([0.2, 0.2005, 0.201]) == 4
    assert decimals_of([0.16, 0.18]) == 2
    assert decimals_of([25.0, 50.0]) == 0
    assert f"{0.2005:.{decimals_of([0.2, 0.2005])}f}" == str(Decimal("0.2005"))
