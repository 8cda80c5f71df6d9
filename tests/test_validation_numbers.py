"""`validation.decimal_value`, the one number parser of every front end: what is typed is
read exactly, or refused with a reason that fits the line under a field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from energy_tui.errors import ValidationError
from energy_tui.services.validation import decimal_value


def price(raw: str) -> Decimal:
    return decimal_value(raw, "price", places=4, max_digits=10, unit="WATT/kWh")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0,25", "price '0,25': use a point for decimals: 0.25"),
        ("1,000", "price '1,000': use a point for decimals: 0.25"),
        ("\u0661\u0660", "price '\u0661\u0660': type the digits 0-9"),  # Decimal() says 10
        ("\uff11\uff12", "price '\uff11\uff12': type the digits 0-9"),  # Decimal() says 12
        ("1_0", "price '1_0': no spaces or '_' inside a number"),  # Decimal() says 10
        ("1 0", "price '1 0': no spaces or '_' inside a number"),
        ("1e2", "price '1e2' is not a number like 0.25"),
        ("NaN", "price 'NaN' is not a number like 0.25"),
        ("-5", "price must be more than zero"),
        ("0", "price must be more than zero"),
        ("0.12345", "price has more than 4 decimals"),
        ("1000000", "price is too large: at most 999999.9999 WATT/kWh"),
    ],
)
def test_what_is_not_plain_digits_and_a_point_is_refused_with_a_short_reason(raw, reason):
    with pytest.raises(ValidationError) as error:
        price(raw)
    assert str(error.value) == reason
    assert error.value.field == "price"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("0.25", "0.2500"),
        (" 0.25 ", "0.2500"),
        (".5", "0.5000"),
        ("3.", "3.0000"),
        ("0.10000", "0.1000"),
    ],
)
def test_plain_numbers_are_read_exactly(raw, value):
    assert price(raw) == Decimal(value)
    assert str(price(raw)) == value
