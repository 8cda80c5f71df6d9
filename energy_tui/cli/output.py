"""How the CLI prints: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: a string, never a float
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date | uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key: _plain(item) for key, item in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return value


def print_json(value: Any) -> None:
    json.dump(_plain(value), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(item) for item in value) or "-"
    plain = _plain(value)
    return str(plain)


def print_table(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    """Left-aligned text, right-aligned numbers; headers in upper case."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    numeric = [all(_is_number(line[i]) for line in cells) and cells for i in range(len(columns))]
    widths = [
        max([len(column)] + [len(line[i]) for line in cells]) for i, column in enumerate(columns)
    ]

    def fmt(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if numeric[i] else value.ljust(width)
            for i, (value, width) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    print(fmt([column.upper().replace("_", " ") for column in columns]))
    for line in cells:
        print(fmt(line))
    if not cells:
        print("(none)")


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(label) for label, _ in pairs)
    for label, value in pairs:
        print(f"{label.ljust(width)}  {_cell(value)}")
