"""Parsing of user input into exact values, with messages that say what is accepted."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal

from energy_tui.errors import ValidationError

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,49}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_ADDRESS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
# ASCII only: Python's int() also takes Arabic-Indic or fullwidth digits and '1_2'.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,30}", re.ASCII)


# What a number may look like: ASCII digits with at most one point, an optional sign.
# Decimal() also takes `1_000`, fullwidth and Arabic-Indic digits, `1e3`, `NaN` and
# `Infinity`: a trader who types these did not mean a number, so none is read as one.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def decimal_value(
    raw: str | Decimal | int,
    label: str,
    *,
    places: int,
    max_digits: int,
    allow_zero: bool = False,
    unit: str = "",
) -> Decimal:
    """Parse a positive decimal (or >= 0 with allow_zero) that fits DECIMAL(max_digits, places).

    Text is taken exactly as typed (outer spaces aside): plain ASCII digits and a point,
    or refused with a reason short enough to show under the field it was typed in.
    """
    step = Decimal(1).scaleb(-places)
    limit = Decimal(10) ** (max_digits - places) - step
    least = "zero or more" if allow_zero else "more than zero"
    if isinstance(raw, str) and raw.strip().startswith("-") and raw.strip() != "-":
        # the sign says enough, whatever follows (-5, -1e5, -inf): the reason is the sign
        raise ValidationError(f"{label} must be {least}", field=label)
    value = raw if isinstance(raw, Decimal) else _plain_number(str(raw), label)
    if not value.is_finite():
        raise ValidationError(f"{label} must be a finite number", field=label)
    if value < 0 or (value == 0 and not allow_zero):
        raise ValidationError(f"{label} must be {least}", field=label)
    if value > limit:
        unit = f" {unit}" if unit else ""
        raise ValidationError(f"{label} is too large: at most {limit}{unit}", field=label)
    if value != value.quantize(step):
        raise ValidationError(f"{label} has more than {places} decimals", field=label)
    return value.quantize(step)


def _plain_number(raw: str, label: str) -> Decimal:
    text = raw.strip()
    if _PLAIN_NUMBER.fullmatch(text):
        return Decimal(text)
    raise ValidationError(f"{label} {text[:40]!r}{_why_not_a_number(text)}", field=label)


def _why_not_a_number(text: str) -> str:
    if "," in text:
        return ": use a point for decimals: 0.25"
    if other_digits(text):
        return ": type the digits 0-9"
    if "_" in text or any(char.isspace() for char in text):
        return ": no spaces or '_' inside a number"
    return " is not a number like 0.25"


def other_digits(text: str) -> bool:
    """True when `text` holds digits other than 0-9 (Arabic-Indic, fullwidth, ...), which
    int() and Decimal() read as numbers although nobody meant them as ours."""
    return any(char.isdigit() and not char.isascii() for char in text)


def digits_hint(text: str) -> str:
    """The start of a refusal's reason for `text` holding digits other than 0-9."""
    return "type the digits 0-9; " if other_digits(text) else ""


def whole_number(raw: str, label: str, *, minimum: int, maximum: int) -> int:
    """A whole number in ASCII digits from `minimum` to `maximum` (no sign, no spaces
    inside, no '_'): what the user typed, or a ValidationError saying what is accepted."""
    text = (raw or "").strip()
    if _WHOLE_NUMBER.fullmatch(text) and minimum <= int(text) <= maximum:
        return int(text)
    raise ValidationError(
        f"{label} {raw[:40]!r} is not valid: expected a whole number from {minimum} to {maximum}",
        field=label,
    )


def is_utf8(text: str) -> bool:
    """False for text holding lone surrogates: bytes that were not UTF-8 (undecodable
    command-line arguments and environment values arrive that way)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_value(raw: str, label: str, *, max_length: int) -> str:
    """A trimmed, non-empty single-line text of at most `max_length` characters."""
    value = (raw or "").strip()
    if not value:
        raise ValidationError(f"{label} must not be empty (1-{max_length} characters)", field=label)
    if len(value) > max_length:
        raise ValidationError(
            f"{label} is {len(value)} characters long: at most {max_length} are accepted",
            field=label,
        )
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValidationError(f"{label} must not contain control characters", field=label)
    return value


def username(raw: str) -> str:
    value = text_value(raw, "username", max_length=50)
    if not _USERNAME.fullmatch(value):
        raise ValidationError(
            "username must be 3-50 characters: letters, digits, '.', '_' or '-',"
            " starting with a letter or digit",
            field="username",
        )
    return value


def email(raw: str) -> str:
    value = text_value(raw, "email", max_length=100)
    if not _EMAIL.fullmatch(value):
        raise ValidationError(
            f"email {value[:40]!r} is not an address like name@example.org", field="email"
        )
    return value.lower()


def address(raw: str) -> str:
    value = text_value(raw, "address", max_length=100)
    if not _ADDRESS.fullmatch(value):
        raise ValidationError(
            "address must be 1-100 characters: letters, digits, '.', '_', ':' "
            "or '-', starting with a letter or digit",
            field="address",
        )
    return value


def choice(raw: str, label: str, options: Iterable[str]) -> str:
    value = (raw or "").strip().lower()
    options = tuple(options)
    if value not in options:
        raise ValidationError(
            f"unknown {label} {raw[:40]!r}: expected one of {', '.join(options)}", field=label
        )
    return value


# ASCII only: `\d` also matches Arabic-Indic and fullwidth digits (and `\s` any Unicode
# space), which int() then reads: `٣h` was 3 hours. What was typed is what is used.
_DURATION = re.compile(r"([0-9]{1,6})\s*([smhdw])", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# What a moment typed with an offset must land in once it is UTC, the calendar Python and
# every backend hold: `0001-01-01T00:00+05:00` is in year 0 in UTC, `9999-12-31T23:00-05:00`
# in year 10000, and converting either raises OverflowError.
CALENDAR = "in UTC it must fall within 0001-01-01 to 9999-12-31"


def naive_utc(moment: dt.datetime) -> dt.datetime:
    """`moment` as the schema holds times, naive UTC (a naive one is taken as UTC already).
    OverflowError when its UTC falls outside the calendar: callers refuse it as typed."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


_AGO = re.compile(r"([0-9]{1,6})\s*([wdhm])", re.ASCII)  # never `٣h`: what was typed is used
_AGO_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def moment_back(text: str, now: dt.datetime) -> dt.datetime:
    """A filter's moment: a span back from `now` (`7d`, `3 h`), else an ISO date or
    date-time (an offset converted to naive UTC). OverflowError when it leaves the
    calendar, ValueError when it is neither: callers refuse it in their own words."""
    ago = _AGO.fullmatch(text.lower())
    if ago is not None:
        return now - dt.timedelta(**{_AGO_UNITS[ago[2]]: int(ago[1])})
    return naive_utc(dt.datetime.fromisoformat(text.upper()))


def expiry(raw: str, now: dt.datetime, label: str = "expiry") -> dt.datetime:
    """A future moment: a duration from now (`90s`, `30m`, `2h`, `90d`, `2w`) or an ISO date
    or date-time in UTC (`2027-01-31`, `2027-01-31T18:00`)."""
    text = (raw or "").strip().lower()
    accepted = "a duration such as 30m, 2h or 90d, or a UTC date such as 2027-01-31"
    match = _DURATION.fullmatch(text)
    try:
        if match:
            moment = now + dt.timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
        else:
            moment = naive_utc(dt.datetime.fromisoformat(text.upper() if "t" in text else text))
    except OverflowError:  # beyond year 9999 (`999999w`), or before year 1
        raise ValidationError(
            f"{label} {raw[:40]!r} is out of range: expected {accepted}", field=label
        ) from None
    except ValueError:
        raise ValidationError(
            f"{label} {raw[:40]!r} is not understood: {digits_hint(text)}expected {accepted}",
            field=label,
        ) from None
    if moment <= now:
        raise ValidationError(
            f"{label} {raw[:40]!r} is not in the future: expected {accepted}", field=label
        )
    return moment
