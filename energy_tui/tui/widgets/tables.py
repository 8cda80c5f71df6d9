"""DataTable with j/k, the way traders expect to move."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.binding import Binding
from textual.widgets import DataTable, Static


class Table(DataTable):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(*args, **kwargs)

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
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if selected is not None and selected in self.rows:
            row = self.get_row_index(selected)
        if self.row_count:
            self.move_cursor(row=min(max(row, 0), self.row_count - 1), animate=False)


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
