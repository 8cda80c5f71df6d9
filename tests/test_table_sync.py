"""A table refreshed by `Table.sync` touches only the rows and cells that changed, and
the cursor stays on the row it was on (issue 15: the order book's refresh in a frame)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult

from energy_tui.services.market.book import Book, Level
from energy_tui.tui.widgets.cells import number
from energy_tui.tui.widgets.ladder import PriceLadder, Row
from energy_tui.tui.widgets.rowdiff import diff_rows
from energy_tui.tui.widgets.tables import Table
from tests.tui_identity_support import sync


def rows(*specs: tuple[str, str]) -> list[tuple[str, tuple[object, ...]]]:
    return [(key, (key, Text(price, style="green"))) for key, price in specs]


def test_a_changed_cell_is_the_only_change() -> None:
    shown = dict(rows(("a", "1.00"), ("b", "2.00")))
    changes = diff_rows(shown, ["a", "b"], rows(("a", "1.00"), ("b", "2.50")))
    assert [(key, i, str(cell)) for key, i, cell in changes.changed] == [("b", 1, "2.50")]
    assert not changes.added and not changes.removed and not changes.reorder


def test_a_style_or_justification_change_is_a_change_though_the_text_is_the_same() -> None:
    shown = {"a": (Text("1.00", style="green"), Text("5", justify="left"))}
    wanted = [("a", (Text("1.00", style="red"), Text("5", justify="right")))]
    assert [i for _key, i, _cell in diff_rows(shown, ["a"], wanted).changed] == [0, 1]


def test_a_cell_that_sorts_the_same_but_shows_other_text_is_a_change() -> None:
    shown = {"a": (number(1, "1.00"),)}
    assert diff_rows(shown, ["a"], [("a", (number(1, "1.0000"),))]).changed


def test_rows_gone_are_removed_and_new_rows_added_in_order() -> None:
    shown = dict(rows(("a", "1"), ("b", "2"), ("c", "3")))
    wanted = rows(("n", "0"), ("a", "1"), ("c", "3"))
    changes = diff_rows(shown, ["a", "b", "c"], wanted)
    assert changes.removed == ["b"]
    assert [key for key, _cells in changes.added] == ["n"]
    assert not changes.changed
    assert changes.order == ["n", "a", "c"] and changes.reorder  # "n" goes above "a"


def test_a_row_added_at_the_bottom_needs_no_reordering() -> None:
    changes = diff_rows(dict(rows(("a", "1"))), ["a"], rows(("a", "1"), ("z", "9")))
    assert [key for key, _cells in changes.added] == ["z"] and not changes.reorder


def test_the_same_rows_are_nothing_to_do() -> None:
    assert diff_rows(dict(rows(("a", "1"))), ["a"], rows(("a", "1"))).nothing


class OneTable(App[None]):
    def compose(self) -> ComposeResult:
        yield Table(id="t")

    def on_mount(self) -> None:
        self.query_one(Table).add_columns("Key", "Price")


def shown(table: Table) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


@sync
async def test_sync_updates_adds_and_removes_and_the_cursor_stays_on_its_row() -> None:
    app = OneTable()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(Table)
        table.sync(rows(("a", "1.00"), ("b", "2.00"), ("c", "3.00"), ("d", "4.00")))
        table.move_cursor(row=2)  # on "c"
        kept = table.get_row("a")
        await pilot.pause()
        changes = table.sync(rows(("n", "0.50"), ("a", "1.00"), ("c", "3.10"), ("d", "4.00")))
        await pilot.pause()
        assert shown(table) == [["n", "0.50"], ["a", "1.00"], ["c", "3.10"], ["d", "4.00"]]
        assert changes.removed == ["b"] and len(changes.changed) == 1
        assert table.selected_key() == "c"  # a row above came and one went: still "c"
        # "a" did not change: its cells are the very objects shown before, not re-added
        assert all(new is old for new, old in zip(table.get_row("a"), kept, strict=True))


@sync
async def test_a_row_inserted_above_keeps_the_cursors_row_on_the_same_screen_line() -> None:
    app = OneTable()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(Table)
        many = [(f"k{i:02}", f"{i}.00") for i in range(30)]
        table.sync(rows(*many))
        await pilot.pause()
        table.move_cursor(row=20)
        await pilot.pause()
        line = table.cursor_row - table.scroll_y
        table.sync(rows(("new", "9.99"), *many))
        await pilot.pause()
        assert table.selected_key() == "k20"
        assert table.cursor_row - table.scroll_y == line


@sync
async def test_sync_values_makes_cells_only_for_values_that_changed() -> None:
    app = OneTable()
    made: list[str] = []

    def cells(value: tuple[str, str]) -> tuple[object, ...]:
        made.append(value[0])
        return value

    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(Table)
        table.sync_values([("a", ("a", "1")), ("b", ("b", "2"))], cells)
        made.clear()
        table.sync_values([("a", ("a", "1")), ("b", ("b", "3"))], cells)
        await pilot.pause()
        assert made == ["b"]
        assert shown(table) == [["a", "1"], ["b", "3"]]


def _book(deepest_ask: str, deepest_bid: str = "10.01") -> Book:
    def side(levels: list[tuple[str, str]]) -> list[Level]:
        made, total = [], Decimal(0)
        for price, amount in levels:
            total += Decimal(amount)
            made.append(Level(Decimal(price), Decimal(amount), 1, total))
        return made

    asks = side([("0.2000", "5.00"), ("0.2100", deepest_ask)])
    bids = side([("0.1500", "10.00"), ("0.1400", deepest_bid)])  # the largest cumulative
    return Book(bids, asks, None, None, 1)


class OneLadder(App[None]):
    def compose(self) -> ComposeResult:
        yield PriceLadder()


@sync
async def test_the_ladder_makes_the_cells_of_the_levels_that_changed_only() -> None:
    """Issue 15: a refresh of the order book usually moves a level or two; the ladder
    makes those rows' cells, not every row's."""
    app = OneLadder()
    async with app.run_test(size=(80, 12)) as pilot:
        ladder = app.query_one(PriceLadder)
        ladder.show(_book("3.00"))
        await pilot.pause()
        made: list[str] = []
        level = ladder._level

        def counted(row: Row, *rest: Any) -> Any:
            made.append(row.key)
            return level(row, *rest)

        ladder._level = counted  # type: ignore[method-assign,assignment]
        ladder.show(_book("4.00"))
        await pilot.pause()
        assert made == ["ask:0.2100"]
        assert [str(cell) for cell in ladder.get_row("ask:0.2100")][2:5] == ["4.00", "1", "9.00"]
        ladder.show(_book("4.00"))
        assert made == ["ask:0.2100"]  # nothing changed: nothing made
        made.clear()
        ladder.show(_book("4.00", "10.02"))  # the largest depth moves, the asks' bars not
        assert made == ["bid:0.1400"]
