"""A frozen `energy_tui.clock.now` that tests move forward by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from energy_tui import clock

START = dt.datetime(2026, 3, 2, 12, 0, 0)


class Clock:
    """Stands in for `clock.now`; tests move it with `advance` (or set `now`)."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def freeze(monkeypatch: pytest.MonkeyPatch, start: dt.datetime = START) -> Clock:
    frozen = Clock(start)
    monkeypatch.setattr(clock, "now", frozen)
    return frozen
