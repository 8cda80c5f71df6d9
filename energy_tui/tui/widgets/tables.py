"""DataTable with j/k, the way traders expect to move."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from textual.binding import Binding
from textual.widgets import DataTable, Static

from energy_tui.tui.widgets.rowdiff import Cells, RowChanges, diff_rows


class Table(DataTable):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(*args, **kwargs)
        self._shown: dict[str, Cells] = {}  # the cells `sync` last gave each row
        self._made: dict[str, tuple[Any, Cells]] = {}  # `sync_values`: (value, its cells)

    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None in an empty table."""
        if self.row_count == 0 or self.cursor_row < 0:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def refill(
        self, rows: Iterable[tuple[str, Sequence[object]]], select: str | None = None
    ) -> None:
        """Replace every row (key, cells), keeping the cursor on the same row's key
        when it is still there (or moving it to `select`), so a refresh does not move
        the user's selection."""
        selected, row = select or self.selected_key(), self.cursor_row
        self._shown, self._made = {}, {}
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if selected is not None and selected in self.rows:
            row = self.get_row_index(selected)
        if self.row_count:
            self.move_cursor(row=min(max(row, 0), self.row_count - 1), animate=False)

    def sync(self, rows: Iterable[tuple[str, Cells]], select: str | None = None) -> RowChanges:
        """Show exactly `rows` (key, cells), in order, touching only what changed: cells
        updated in place, rows removed and added, the rows put in order. The cursor
        stays on its row's key (or moves to `select`), and the view scrolls with it,
        so the rows under the user's eyes stay where they were."""
        wanted = list(rows)
        keys = [row.key.value or "" for row in self.ordered_rows]
        shown = {key: self._shown.get(key) or self.get_row(key) for key in keys}
        changes = diff_rows(shown, keys, wanted)
        if changes.nothing:
            return changes
        selected = select or self.selected_key()
        before = self.cursor_row if selected is not None else None
        self._apply(changes, wanted)
        self._shown = dict(wanted)
        self._keep_cursor(selected, before)
        return changes

    def sync_values(
        self,
        values: Iterable[tuple[str, Any]],
        cells: Callable[[Any], Cells],
        select: str | None = None,
    ) -> RowChanges:
        """`sync` of rows (key, cells(value)), where a row whose value equals the one
        it was last shown for keeps its cells without making them again (the formatting
        of a hundred orders cost more than the comparison of their values)."""
        made = {}
        for key, value in values:
            last = self._made.get(key)
            made[key] = last if last is not None and last[0] == value else (value, cells(value))
        rows = [(key, row_cells) for key, (_value, row_cells) in made.items()]
        changes = self.sync(rows, select)
        self._made = made
        return changes

    def _apply(self, changes: RowChanges, wanted: list[tuple[str, Cells]]) -> None:
        columns = self.ordered_columns
        for key in changes.removed:
            self.remove_row(key)
        for key, index, cell in changes.changed:
            column = columns[index]
            self.update_cell(key, column.key, cell, update_width=column.auto_width)
        for key, cells in changes.added:
            self.add_row(*cells, key=key)
        if changes.reorder:
            self._put_in_order(changes.order, wanted)

    def _put_in_order(self, order: list[str], wanted: list[tuple[str, Cells]]) -> None:
        """`DataTable.sort` hands its key function a row's cells, not its key: each row
        is known by the identity of the cell objects it holds. Rows that hold the very
        same objects cannot be told apart: those are added again, in order."""
        place = {_identity(self.get_row(key)): i for i, key in enumerate(order)}
        if len(place) == len(order):
            self.sort(key=lambda cells: place[_identity(cells)])
            return
        self.clear()
        for key, cells in wanted:
            self.add_row(*cells, key=key)

    def _keep_cursor(self, selected: str | None, before: int | None) -> None:
        if not self.row_count:
            return
        row = self.cursor_row
        if selected is not None and selected in self.rows:
            row = self.get_row_index(selected)
        row = min(max(row, 0), self.row_count - 1)
        if before is not None and row != before:  # rows came or went above it
            self.scroll_to(y=self.scroll_y + row - before, animate=False, immediate=True)
        self.move_cursor(row=row, animate=False)


class EmptyNote(Static):
    """Beside a Table in the same container: when the table has no rows, says what is
    empty and what to do next; hidden otherwise. The container gets the class `-empty`
    (the screens' CSS then shrinks the table to its header)."""

    DEFAULT_CSS = """
    EmptyNote {
        height: 1fr; content-align: center middle; text-align: center;
        color: $text-muted; padding: 0 2; display: none;
    }
    """

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("classes", "empty-note")
        super().__init__("", markup=False, **kwargs)

    def show(self, message: str) -> None:
        """Call after (re)filling the table: `message` is shown only if it is empty."""
        container = self.parent
        assert container is not None
        empty = container.query_children(Table).first().row_count == 0
        self.update(message if empty else "")
        self.display = empty
        container.set_class(empty, "-empty")


def _identity(cells: Iterable[object]) -> tuple[int, ...]:
    return tuple(sorted(map(id, cells)))
