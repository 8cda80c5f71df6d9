"""Table cells that show formatted text but sort by their value.

`DataTable.sort` compares the cell objects themselves, so a `Cell` holding a Decimal
sorts 9.50 before 10.00 while it displays "10.00" right-aligned in a colour.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text


@dataclasses.dataclass(frozen=True, order=True)
class Cell:
    value: Any
    text: str = dataclasses.field(compare=False)
    style: str = dataclasses.field(default="", compare=False)
    justify: str = dataclasses.field(default="left", compare=False)

    def __rich__(self) -> Text:
        return Text(self.text, style=self.style, justify=self.justify)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.text


def number(value: Any, text: str, style: str = "") -> Cell:
    """A right-aligned number."""
    return Cell(value, text, style, "right")


def label(text: str | None, style: str = "") -> Cell:
    """Text that sorts alphabetically (missing values first)."""
    return Cell(text or "", text or "", style)
