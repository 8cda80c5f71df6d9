"""The one source of "now" (naive UTC, as the schema's TIMESTAMP columns hold it).

Tests and the demo freeze it with `clock.frozen(moment)`.
"""

from __future__ import annotations

import datetime as _dt


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


class frozen:
    """Make `now()` return a fixed moment (tests, demo seeding, screenshots).

    Process-wide: use it only where no other thread reads the clock meanwhile.
    """

    def __init__(self, moment: _dt.datetime) -> None:
        self.moment = moment

    def set(self, moment: _dt.datetime) -> None:
        self.moment = moment

    def __enter__(self) -> frozen:
        global now
        self._saved = now
        now = lambda: self.moment  # noqa: E731
        return self

    def __exit__(self, *exc: object) -> None:
        global now
        now = self._saved
