"""The chart axis: round, evenly spaced ticks, labelled with the decimals they need."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from energy_tui.tui.widgets.textchart import nice_ticks, tick_text

D = Decimal


@pytest.mark.parametrize(
    ("low", "high", "most", "ticks"),
    [
        ("0.1463", "0.2160", 6, ["0.14", "0.16", "0.18", "0.20", "0.22"]),  # not 0.216, 0.204
        ("0.1463", "0.2160", 3, ["0.1", "0.2", "0.3"]),
        ("0", "188.7", 6, ["0", "50", "100", "150", "200"]),
        ("0.2000", "0.2000", 4, ["0.200", "0.201", "0.202"]),  # one price: a sliver above
        ("0", "0.75", 5, ["0.0", "0.2", "0.4", "0.6", "0.8"]),
    ],
)
def test_ticks_are_round_and_evenly_spaced(low, high, most, ticks) -> None:
    got = nice_ticks(D(low), D(high), most)
    assert [str(t) for t in got] == ticks
    assert got[0] <= D(low) and got[-1] >= D(high) and len(got) <= most
    assert len({b - a for a, b in itertools.pairwise(got)}) == 1


def test_tick_labels_have_the_decimals_of_the_step() -> None:
    assert [tick_text(v, D("0.05"), 4) for v in (D("0.10"), D("0.15"))] == ["0.10", "0.15"]
    assert tick_text(D("150"), D("50"), 2) == "150"
    assert tick_text(D("1.5"), D("0.5"), 2) == "1.5"  # small volumes keep their decimal
    assert tick_text(D("1500"), D("500"), 2) == "1,500"
