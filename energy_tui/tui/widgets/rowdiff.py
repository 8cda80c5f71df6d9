"""What changed between the rows a table shows and the rows it should show (issue 15).

Re-adding every row of a DataTable on each refresh cost the order book screen most of
its 16 ms frame (each `add_row` measures its cells and re-checks the cursor). A refresh
usually changes a few cells: `diff_rows` says which, so `Table.sync` touches only those.
Pure functions over (key, cells): no Textual, tested on their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text

from energy_tui.tui.widgets.cells import Cell

Cells = Sequence[object]


@dataclasses.dataclass(frozen=True)
class RowChanges:
    """Applied in this order: remove, update cells, add (at the bottom), then put the
    rows in `order` if `reorder` (the kept rows moved, or one was added above others)."""

    removed: list[str]
    changed: list[tuple[str, int, object]]  # (row key, column index, new cell)
    added: list[tuple[str, Cells]]
    order: list[str]
    reorder: bool

    @property
    def nothing(self) -> bool:
        return not (self.removed or self.changed or self.added or self.reorder)


def look(cell: object) -> object:
    """What a cell shows, comparable: rich's `Text.__eq__` ignores the style and the
    justification, and a `Cell` compares by its sort value alone."""
    if isinstance(cell, Text):
        return ("text", cell.plain, str(cell.style), cell.justify, tuple(cell.spans))
    if isinstance(cell, Cell):
        return ("cell", cell.value, cell.text, cell.style, cell.justify)
    return cell


def diff_rows(
    shown: Mapping[str, Cells], shown_order: Sequence[str], wanted: Sequence[tuple[str, Cells]]
) -> RowChanges:
    """From `shown` (key -> cells, in `shown_order`) to `wanted` (key, cells), in order.
    Keys are unique in each."""
    wanted_keys = {key for key, _cells in wanted}
    removed = [key for key in shown_order if key not in wanted_keys]
    changed: list[tuple[str, int, Any]] = []
    added: list[tuple[str, Cells]] = []
    for key, cells in wanted:
        before = shown.get(key)
        if before is None:
            added.append((key, cells))
            continue
        if before is cells:  # the very cells shown (`Table.sync_values`)
            continue
        pairs = enumerate(zip(before, cells, strict=False))  # a short row is padded
        changed += [(key, i, cell) for i, (old, cell) in pairs if look(old) != look(cell)]
    order = [key for key, _cells in wanted]
    kept = [key for key in shown_order if key in wanted_keys]
    return RowChanges(removed, changed, added, order, kept + [k for k, _ in added] != order)
