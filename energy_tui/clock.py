"""The one source of "now" (naive UTC, as the schema's TIMESTAMP columns hold it).

Tests freeze time by patching `clock.now`.
"""

from __future__ import annotations

import datetime as _dt


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
