"""The Trades screen (F2): market and my trades, filters, sorting, CSV export."""

from __future__ import annotations

import csv
import io
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static
from textual.widgets.data_table import ColumnKey

from energy_tui import locations
from energy_tui.tui.app import EnergyApp
from energy_tui.tui.screens.trades import DateField, TradesScreen
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.export_dialog import ExportDialog
from energy_tui.tui.widgets.tables import Table
from tests.tui_identity_support import settle, type_text
from tests.tui_market_support import fill, play, seeded_market

SIZE = (120, 36)
Scenario = Callable[[Pilot, TradesScreen], Awaitable[None]]


@pytest.fixture
def database(tmp_path: Path):
    return seeded_market(tmp_path)


@pytest.fixture(autouse=True)
def documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's documents folder, in tmp_path (created by the tests that want it)."""
    folder = tmp_path / "Documents"
    monkeypatch.setattr(locations, "documents_dir", lambda: folder)
    return folder


def run(database, scenario: Scenario, user: str = "alice", size=SIZE) -> None:
    """Log in as `user`, open F2 and play `scenario`, with the clock at NOW."""
    play(database, user, "f2", TradesScreen, scenario, size)


def column(screen: TradesScreen, key: str) -> list[str]:
    table = screen.query_one("#trades", Table)
    return [str(cell) for cell in table.get_column(key)]


async def press(pilot: Pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


async def type_dates(pilot: Pilot, since: str, until: str = "") -> None:
    """Back to the table, `d` into From, type, Tab to To, type, Enter."""
    await press(pilot, "escape", "d")
    await fill(pilot, since)
    await pilot.press("tab")
    await fill(pilot, until)
    await press(pilot, "enter")


def field_error(screen: TradesScreen, name: str) -> str:
    error = screen.query_one(f"#{name}", DateField).query_one(".field-error", Static)
    return str(error.content) if error.display else ""


# --- market and mine -------------------------------------------------------------------


def test_market_trades_are_listed_newest_first_with_exact_values(database) -> None:
    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        assert column(screen, "time") == [
            "2026-03-07 12:00:00",
            "2026-03-05 11:00:00",
            "2026-03-03 10:00:00",
            "2026-03-01 09:00:00",
        ]
        assert column(screen, "amount") == ["3.00", "0.10", "2.50", "1.25"]
        assert column(screen, "price") == ["0.2000", "0.3333", "0.1234", "0.1000"]
        assert column(screen, "total") == ["0.60", "0.03", "0.31", "0.12"]
        # 5% rounded up to the cent: 0.0015 of the 0.03 trade is a fee of 0.01
        assert column(screen, "fee") == ["0.03", "0.01", "0.02", "0.01"]
        assert column(screen, "buyer") == ["carol-home", "bob-home", "alice-home", "bob-home"]
        assert screen.query_one("#trades-pane").border_title == "Market trades"

    run(database, scenario)


def test_m_toggles_between_market_and_my_trades(database) -> None:
    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        await press(pilot, "m")
        assert screen.mine
        assert column(screen, "time") == [
            "2026-03-07 12:00:00",
            "2026-03-03 10:00:00",
            "2026-03-01 09:00:00",
        ]
        assert column(screen, "side") == ["sell", "buy", "sell"]
        assert column(screen, "net") == ["+0.60", "-0.33", "+0.12"]  # a buy pays the fee
        assert column(screen, "with") == ["carol-home", "bob-home", "bob-home"]
        assert screen.query_one("#trades-pane").border_title == "My trades (alice-home)"

        await press(pilot, "m")
        assert not screen.mine
        assert len(column(screen, "time")) == 4

    run(database, scenario)


def test_side_filter_shows_only_my_buys_or_my_sells(database) -> None:
    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        await press(pilot, "s")  # market view: side does not apply
        assert screen.side is None and len(column(screen, "time")) == 4

        await press(pilot, "m", "s")
        assert column(screen, "side") == ["buy"]
        assert column(screen, "amount") == ["2.50"]
        await press(pilot, "s")
        assert column(screen, "side") == ["sell", "sell"]
        await press(pilot, "s")
        assert column(screen, "side") == ["sell", "buy", "sell"]

    run(database, scenario)


def test_viewer_without_a_prosumer_has_no_my_trades(database) -> None:
    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        keys = {
            b.binding.key
            for b in screen.active_bindings.values()
            if screen.check_action(b.binding.action, ())
        }
        assert "m" not in keys and "s" not in keys
        assert not screen.query_one("#scope-row").display  # no Market/Mine, no side
        await press(pilot, "m")
        assert not screen.mine and len(column(screen, "time")) == 4

    run(database, scenario, user="viewer")


# --- dates -----------------------------------------------------------------------------


def test_date_range_keeps_the_trades_of_those_utc_days(database) -> None:
    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        await type_dates(pilot, "2026-03-03", "2026-03-05")
        assert column(screen, "time") == ["2026-03-05 11:00:00", "2026-03-03 10:00:00"]
        assert "2026-03-03 to 2026-03-05" in str(screen.query_one("#trades-pane").border_subtitle)

        await press(pilot, "escape", "m")  # the range applies to my trades too
        assert column(screen, "time") == ["2026-03-03 10:00:00"]

        await press(pilot, "c")
        assert len(column(screen, "time")) == 3
        assert screen.query_one("#since", DateField).input.value == ""

    run(database, scenario)


def test_a_range_without_trades_says_so_and_how_to_clear_it(database) -> None:
    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        await type_dates(pilot, "2026-02-01", "2026-02-28")
        assert column(screen, "time") == []
        empty = screen.query_one("#trades-empty", Static)
        assert empty.display
        assert str(empty.content) == "No trades match these filters (c clears them)."
        await press(pilot, "c")
        assert len(column(screen, "time")) == 4 and not empty.display

    run(database, scenario)


@pytest.mark.parametrize(
    ("since", "until", "field", "reason"),
    [
        ("2026-02-30", "", "since", "No such day: 2026-02-30"),
        ("2026-3-1", "", "since", "Use YYYY-MM-DD"),
        ("2026-03-05", "2026-03-01", "until", "To is before From"),
    ],
)
def test_a_bad_date_says_why_under_its_field_and_keeps_the_rows(
    database, since: str, until: str, field: str, reason: str
) -> None:
    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        await type_dates(pilot, "2026-03-03", "2026-03-05")
        shown = column(screen, "time")
        assert len(shown) == 2

        await type_dates(pilot, since, until)

        assert field_error(screen, field) == reason
        assert screen.query_one(f"#{field}", DateField).input.has_class("-invalid")
        assert column(screen, "time") == shown  # the old rows stay
        assert screen.since is not None and screen.until is not None
        assert (screen.since.isoformat(), screen.until.isoformat()) == (
            "2026-03-03",
            "2026-03-05",
        )

        await type_dates(pilot, "2026-03-01", "")  # fixed: the message goes
        assert field_error(screen, field) == ""
        assert len(column(screen, "time")) == 4

    run(database, scenario)


# --- sorting ---------------------------------------------------------------------------


def test_o_cycles_the_sort_column_and_r_reverses_it(database) -> None:
    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        await press(pilot, "o")  # time -> kWh, largest first
        assert screen.sort_key == "amount"
        assert column(screen, "amount") == ["3.00", "2.50", "1.25", "0.10"]
        table = screen.query_one("#trades", Table)
        assert str(table.columns[ColumnKey("amount")].label) == "kWh ▼"

        await press(pilot, "r")
        assert column(screen, "amount") == ["0.10", "1.25", "2.50", "3.00"]

        await press(pilot, "o")  # kWh -> price
        assert column(screen, "price") == ["0.3333", "0.2000", "0.1234", "0.1000"]

    run(database, scenario)


def test_clicking_a_header_sorts_by_it_and_again_reverses(database) -> None:
    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        table = screen.query_one("#trades", Table)
        keys = list(table.columns)
        index = next(i for i, key in enumerate(keys) if key.value == "buyer")
        x = sum(table.columns[k].get_render_width(table) for k in keys[:index]) + 2

        await pilot.click("#trades", offset=(x, 0))
        await settle(pilot)
        assert screen.sort_key == "buyer"
        assert column(screen, "buyer") == ["alice-home", "bob-home", "bob-home", "carol-home"]

        await pilot.click("#trades", offset=(x, 0))
        await settle(pilot)
        assert column(screen, "buyer") == ["carol-home", "bob-home", "bob-home", "alice-home"]

    run(database, scenario)


# --- export ----------------------------------------------------------------------------


async def open_export(pilot: Pilot) -> ExportDialog:
    await press(pilot, "e")
    dialog = pilot.app.screen
    assert isinstance(dialog, ExportDialog)
    return dialog


async def export_to(pilot: Pilot, path: Path) -> ExportDialog:
    dialog = await open_export(pilot)
    await fill(pilot, str(path))
    await press(pilot, "enter")
    return dialog


def result_text(dialog: ExportDialog) -> str:
    return str(dialog.query_one("#export-result", Static).content)


def test_export_writes_exactly_the_filtered_rows_as_exact_text(database, tmp_path) -> None:
    target = tmp_path / "mine.csv"

    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        await press(pilot, "m")
        await type_dates(pilot, "2026-03-02")  # my trades from March 2nd: two
        assert len(column(screen, "time")) == 2

        dialog = await export_to(pilot, target)

        assert result_text(dialog) == f"Wrote 2 trades to\n{target}"
        assert dialog.query_one("#export-result").has_class("-ok")
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, TradesScreen)

    run(database, scenario)
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [
        (
            r["executed_at"],
            r["energy_amount"],
            r["price_per_kwh"],
            r["total_price"],
            r["fee"],
            r["buyer_total"],
            r["side"],
        )
        for r in rows
    ] == [  # oldest first
        ("2026-03-03T10:00:00Z", "2.50", "0.1234", "0.31", "0.02", "0.33", "buy"),
        ("2026-03-07T12:00:00Z", "3.00", "0.2000", "0.60", "", "0.63", "sell"),  # no fee
    ]


def test_export_offers_the_documents_folder_or_else_the_working_directory(
    database, documents: Path
) -> None:
    name = "energy-trades-20260310-1200.csv"

    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        dialog = await open_export(pilot)
        assert dialog.query_one("#export-path", Input).value == str(Path.cwd() / name)
        await press(pilot, "escape")

        documents.mkdir()
        dialog = await open_export(pilot)
        assert dialog.query_one("#export-path", Input).value == str(documents / name)
        await press(pilot, "enter")
        assert result_text(dialog) == f"Wrote 4 trades to\n{documents / name}"

    run(database, scenario)
    assert len((documents / name).read_text(encoding="utf-8").splitlines()) == 5


def test_export_to_a_missing_folder_says_why_in_the_dialog(database, tmp_path) -> None:
    target = tmp_path / "nowhere" / "t.csv"

    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        dialog = await export_to(pilot, target)
        assert pilot.app.screen is dialog  # still open, to correct the path
        assert result_text(dialog) == (
            f"cannot write {target}: the folder {target.parent} does not exist"
        )
        assert dialog.query_one("#export-result").has_class("-error")

        await fill(pilot, str(tmp_path))  # a folder: the default name goes in it
        await press(pilot, "enter")
        assert result_text(dialog).startswith(f"Wrote 4 trades to\n{tmp_path}/energy-trades-")

    run(database, scenario)
    assert not target.parent.exists()


def test_export_to_an_existing_file_asks_on_no_and_replaces_only_on_yes(database, tmp_path) -> None:
    target = tmp_path / "kept.csv"
    target.write_text("precious\n", encoding="utf-8")

    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        dialog = await export_to(pilot, target)
        question = pilot.app.screen
        assert isinstance(question, Confirm)
        assert pilot.app.focused is question.query_one("#no", Button)
        await press(pilot, "enter")  # the safe choice
        assert pilot.app.screen is dialog
        assert target.read_text(encoding="utf-8") == "precious\n"
        assert result_text(dialog) == f"{target} already exists: type another name."

        await press(pilot, "enter")  # export again, and this time say yes
        assert isinstance(pilot.app.screen, Confirm)
        await press(pilot, "y")
        assert result_text(dialog) == f"Wrote 4 trades to\n{target}"

    run(database, scenario)
    assert len(target.read_text(encoding="utf-8").splitlines()) == 5
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_export_refuses_the_database_file_and_a_link_in_the_dialog(database, tmp_path) -> None:
    live = Path(database[1].path)
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "elsewhere.csv")
    original = live.read_bytes()

    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        dialog = await export_to(pilot, live)
        assert "energy-tui's own files" in result_text(dialog)
        assert dialog.query_one("#export-result").has_class("-error")
        await fill(pilot, f"{live}-wal")
        await press(pilot, "enter")
        assert "energy-tui's own files" in result_text(dialog)
        await fill(pilot, str(link))
        await press(pilot, "enter")
        assert "symbolic link" in result_text(dialog)
        assert pilot.app.screen is dialog  # no question: nothing to confirm

    run(database, scenario)
    assert live.read_bytes()[:16] == original[:16]  # still an SQLite file
    assert not (tmp_path / "elsewhere.csv").exists()


def test_in_a_browser_export_delivers_the_csv_as_a_download(
    database, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered: list[tuple[str, Path, str | None]] = []

    def deliver_binary(binary, *, delivery_key, save_path, mime_type=None, **_) -> None:
        delivered.append((binary.read(), save_path, mime_type))

    monkeypatch.setattr(EnergyApp, "is_web", property(lambda app: True))

    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        monkeypatch.setattr(pilot.app._driver, "deliver_binary", deliver_binary)
        await press(pilot, "e")
        assert isinstance(pilot.app.screen, TradesScreen)  # no path to type on a server

    run(database, scenario)
    [(text, save_path, mime)] = delivered
    assert (save_path.name, mime) == ("energy-trades-20260310-1200.csv", "text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["executed_at"] for r in rows] == [
        "2026-03-01T09:00:00Z",
        "2026-03-03T10:00:00Z",
        "2026-03-05T11:00:00Z",
        "2026-03-07T12:00:00Z",
    ]
    assert not list(Path.cwd().iterdir())  # nothing written on the server


def test_my_trades_show_the_fee_only_on_my_buys(database) -> None:
    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        await press(pilot, "m")
        assert list(zip(column(screen, "side"), column(screen, "fee"), strict=True)) == [
            ("sell", ""),
            ("buy", "0.02"),
            ("sell", ""),
        ]

    run(database, scenario)


def test_dates_typed_key_by_key_apply_on_enter_and_letters_stay_out(database) -> None:
    async def scenario(pilot: Pilot, screen: TradesScreen) -> None:
        await press(pilot, "d")
        await type_text(pilot, "m2026-03-07")  # only digits and dashes go in
        assert not screen.mine
        assert screen.query_one("#since", DateField).input.value == "2026-03-07"
        assert len(column(screen, "time")) == 4  # not applied before Enter
        await press(pilot, "enter")
        assert column(screen, "time") == ["2026-03-07 12:00:00"]

    run(database, scenario)
