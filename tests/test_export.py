"""The CSV export service: what it may write (only new files, never our own files,
never through a link), how (owner-only, whole) and what (UTC times with `Z`, the fee
on the side that paid it)."""

from __future__ import annotations

import datetime as dt
import os
import stat
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from energy_tui import locations
from energy_tui.errors import ValidationError
from energy_tui.services.market import export
from energy_tui.services.market.book import TradeView
from energy_tui.services.market.export import TargetExists, write_csv
from tests import backends

TRADE = TradeView(
    uuid.UUID(int=1),
    1,
    dt.datetime(2026, 3, 3, 10, 0, 0),
    Decimal("2.50"),
    Decimal("0.1234"),
    Decimal("0.31"),
    Decimal("0.02"),
    Decimal("0.33"),
    "buyer-home",
    "seller-home",
    "buy",
    None,
    None,
)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def refusal(path: Path, overwrite: bool = False) -> str:
    with pytest.raises(ValidationError) as caught:
        write_csv(path, [TRADE], overwrite=overwrite)
    assert caught.value.field == "csv"
    return str(caught.value)


def test_a_new_file_is_created_owner_only_even_with_an_open_umask(tmp_path: Path) -> None:
    target = tmp_path / "t.csv"
    old = os.umask(0)
    try:
        assert write_csv(target, [TRADE]) == 1
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(lines(target)) == 2


def test_an_existing_file_is_kept_unless_the_overwrite_is_confirmed(tmp_path: Path) -> None:
    target = tmp_path / "t.csv"
    target.write_text("precious\n", encoding="utf-8")

    with pytest.raises(TargetExists, match="already exists"):
        write_csv(target, [TRADE])
    assert target.read_text(encoding="utf-8") == "precious\n"

    assert write_csv(target, [TRADE], overwrite=True) == 1
    assert lines(target)[0].startswith("id,seq,executed_at")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_symbolic_link_is_never_written_through_even_to_a_new_path(tmp_path: Path) -> None:
    victim = tmp_path / "authorized_keys"
    victim.write_text("ssh-ed25519 AAAA me\n", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(victim)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "new-file")

    for path in (link, dangling):
        for overwrite in (False, True):
            assert "symbolic link" in refusal(path, overwrite=overwrite)
    assert victim.read_text(encoding="utf-8") == "ssh-ed25519 AAAA me\n"
    assert not (tmp_path / "new-file").exists()
    assert link.is_symlink() and dangling.is_symlink()


def test_the_live_database_and_its_sidecars_are_refused_even_with_overwrite(
    tmp_path: Path,
) -> None:
    live = tmp_path / "live.db"
    database = backends.bind(f"sqlite://{live}")
    with database.connection_context():
        database.execute_sql("CREATE TABLE t (x)")
    original = live.read_bytes()
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{live}{suffix}")
        assert "energy-tui's own files" in refusal(path, overwrite=True)
    assert live.read_bytes() == original


def test_a_hard_link_or_a_folder_link_to_the_database_is_refused(tmp_path: Path) -> None:
    live = tmp_path / "data" / "live.db"
    live.parent.mkdir()
    backends.bind(f"sqlite://{live}").connect()
    (tmp_path / "alias").symlink_to(live.parent)
    os.link(live, tmp_path / "hard.csv")

    assert "own files" in refusal(tmp_path / "alias" / "live.db", overwrite=True)
    assert "own files" in refusal(tmp_path / "hard.csv", overwrite=True)


def test_the_config_log_and_default_database_files_are_refused(tmp_path: Path) -> None:
    for path in (
        locations.config_file(),
        locations.log_file(),
        Path(f"{locations.default_database_file()}-wal"),
        locations.demo_database_file(),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        assert "own files" in refusal(path, overwrite=True)
        assert not path.exists()


def test_a_folder_the_user_may_not_write_in_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tests run as root, for whom access() allows everything: stand in for a user.
    monkeypatch.setattr(export.os, "access", lambda path, mode: False)
    assert (
        refusal(tmp_path / "t.csv")
        == f"cannot write {tmp_path / 't.csv'}: you may not write in {tmp_path}"
    )
    assert not (tmp_path / "t.csv").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in any folder")
def test_a_read_only_folder_is_refused_for_a_real_user(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    assert "may not write" in refusal(folder / "t.csv")


def test_times_are_iso_8601_utc_with_z() -> None:
    row = export.csv_row(TRADE)
    assert row[2] == "2026-03-03T10:00:00Z"
    aware = dt.datetime(2026, 3, 3, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert export.utc_text(aware) == "2026-03-03T10:00:00Z"


def test_my_trades_show_the_fee_only_on_the_buyer_side() -> None:
    bought = export.csv_row(TRADE, "buyer-home")
    sold = export.csv_row(TRADE, "seller-home")
    fee = export.CSV_COLUMNS.index("fee")
    assert (bought[fee], bought[-1]) == ("0.02", "buy")
    assert (sold[fee], sold[-1]) == ("", "sell")
    assert export.csv_row(TRADE)[fee] == "0.02"  # the market's view: the trade's fee
