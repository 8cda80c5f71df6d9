"""The hot reads' shortcuts (issue 15) make the very values the slow way makes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from energy_tui.services.market import reads
from energy_tui.services.market.book import TradeView


@pytest.mark.parametrize("made", [uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)])
def test_a_uuid_from_its_32_hex_digits_is_the_uuid_parsed(made: uuid.UUID) -> None:
    fast = reads._uuid(made.hex)
    assert fast == made and hash(fast) == hash(made) and str(fast) == str(made)
    assert fast.version == made.version and fast.is_safe == uuid.SafeUUID.unknown
    assert reads._uuid(str(made)) == made  # the dashed form: parsed as before
    with pytest.raises(ValueError):
        reads._uuid("z" * 32)


def test_a_trade_view_filled_in_directly_equals_one_built_and_stays_frozen() -> None:
    values: list[Any] = [
        uuid.uuid4(),
        7,
        dt.datetime(2026, 1, 2, 3, 4, 5),
        Decimal("1.25"),
        Decimal("0.2100"),
        Decimal("0.26"),
        Decimal("0.01"),
        Decimal("0.27"),
        "buyer",
        "seller",
        "buy",
        uuid.uuid4(),
        None,
    ]
    view = TradeView.of_values(values)
    assert view == TradeView(*values) and hash(view) == hash(TradeView(*values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.price = Decimal(1)  # type: ignore[misc]
    with pytest.raises(ValueError):
        TradeView.of_values(values[:-1])  # a column short: refused, not half filled


def test_sqlite_reads_convert_only_the_columns_that_need_it() -> None:
    row: tuple[Any, ...] = ("ab" * 16, 3, "2026-01-02 03:04:05", 1.1, 0.21, 0.23, 0.01, 0.24)
    rows = [(*row, "b", "s", "buy", None, "cd" * 16)]
    [converted] = reads.convert_rows(rows, reads.trade_converters("sqlite"))
    assert [str(v) for v in converted[3:8]] == ["1.10", "0.2100", "0.23", "0.01", "0.24"]
    assert converted[2] == dt.datetime(2026, 1, 2, 3, 4, 5)
    assert converted[0] == uuid.UUID("ab" * 16) and converted[-1] == uuid.UUID("cd" * 16)
    assert converted[1] == 3 and converted[8:12] == ["b", "s", "buy", None]


D = Decimal
