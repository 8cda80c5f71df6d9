"""Trades to CSV, shared by `energy-tui trades export` and the Trades screen.

Decimals are written as the exact text the database holds (never through a float),
times as ISO 8601 UTC with a `Z`, and the file appears whole or not at all.

The path comes from a user (under `energy-tui serve`, from anyone with a login in a
browser), so the export only ever creates a new file, owner-only, never through a
symbolic link; it replaces an existing regular file only when the caller says the
user confirmed it (`overwrite=True`), and never one of energy-tui's own files.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import errno
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TextIO

import peewee

from energy_tui import locations
from energy_tui.db.models import db
from energy_tui.errors import ValidationError
from energy_tui.services.market.book import TradeFilter, TradeView, trades

CSV_COLUMNS = [
    "id",
    "seq",
    "executed_at",
    "buyer_address",
    "seller_address",
    "energy_amount",
    "price_per_kwh",
    "total_price",
    "fee",
    "buyer_total",
    "taker_side",
    "buy_order_id",
    "sell_order_id",
]
FIELD = "csv"  # the field the errors name (the CLI's --csv, the dialog's path)
# create only: fail if anything (a file or a symbolic link, even a dangling one) is there
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_CREATE |= getattr(os, "O_CLOEXEC", 0)


class TargetExists(ValidationError):
    """The file is already there: ask the user, then call again with overwrite=True."""


def default_name(now: dt.datetime) -> str:
    """`energy-trades-YYYYMMDD-HHMM.csv` for the moment `now`."""
    return f"energy-trades-{now:%Y%m%d-%H%M}.csv"


def header(address: str | None) -> list[str]:
    """The column names; exports of one prosumer's trades add its `side`."""
    return [*CSV_COLUMNS, "side"] if address else list(CSV_COLUMNS)


def utc_text(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with its `Z`: the database holds naive UTC times."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return f"{moment.isoformat()}Z"


def csv_row(t: TradeView, address: str | None = None) -> list[str]:
    side = t.side_for(address) if address else None
    values = [
        t.id,
        t.seq,
        utc_text(t.executed_at),
        t.buyer_address,
        t.seller_address,
        t.amount,
        t.price,
        t.total,
        "" if side == "sell" else t.fee,  # the buyer pays the fee; my sells paid none
        t.buyer_total,
        t.taker_side or "",
        t.buy_order_id or "",
        t.sell_order_id or "",
    ]
    if address:
        values.append(side or "")
    return [str(value) for value in values]  # exact decimals as text, never floats


def _write_rows(out: TextIO, head: list[str], rows: Iterable[list[str]]) -> None:
    writer = csv.writer(out)
    writer.writerow(head)
    writer.writerows(rows)


def _writer(trades: Sequence[TradeView], address: str | None) -> Callable[[TextIO], None]:
    return lambda out: _write_rows(out, header(address), (csv_row(t, address) for t in trades))


def csv_text(trades: Sequence[TradeView], address: str | None = None) -> str:
    """The CSV as text, for front ends that deliver it rather than write a file."""
    out = io.StringIO(newline="")
    _writer(trades, address)(out)
    return out.getvalue()


# --- where an export may go -------------------------------------------------------------


def live_database() -> Path | None:
    """The SQLite file the services are bound to now, if any."""
    database = db.obj
    if isinstance(database, peewee.SqliteDatabase) and database.database not in ("", ":memory:"):
        return Path(database.database)
    return None


def _is_own_file(path: Path) -> bool:
    """Is `path` (by name, through folder links, or as a hard link) one of our files?"""
    target = os.path.realpath(path)
    for own in locations.own_files(live_database()):
        if os.path.realpath(own) == target:
            return True
        with contextlib.suppress(OSError):
            if os.path.samefile(own, path):
                return True
    return False


def check_target(path: Path, overwrite: bool = False) -> None:
    """Refuse, with the reason, any path an export must not write; TargetExists when
    the file is there and the user has not confirmed replacing it."""
    folder = path.parent
    if not folder.is_dir():
        raise ValidationError(f"cannot write {path}: the folder {folder} does not exist", FIELD)
    if path.is_symlink():
        raise ValidationError(
            f"cannot write {path}: it is a symbolic link, and exports never write through one",
            FIELD,
        )
    if _is_own_file(path):
        raise ValidationError(
            f"cannot write {path}: it is one of energy-tui's own files (database, "
            "configuration or log): choose another name",
            FIELD,
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValidationError(f"cannot write {path}: you may not write in {folder}", FIELD)
    if os.path.lexists(path):
        if not path.is_file():
            raise ValidationError(f"cannot write {path}: it is not a regular file", FIELD)
        if not overwrite:
            raise TargetExists(f"{path} already exists", FIELD)


def _create(path: Path, write: Callable[[TextIO], None]) -> None:
    """A new owner-only file at `path` (nothing may be there, not even a link)."""
    try:
        handle = os.open(path, _CREATE, 0o600)
    except OSError as exc:
        if exc.errno == errno.EEXIST:  # appeared since the check
            check_target(path)
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            write(out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise _unwritable(path, exc) from None


def _replace(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write a new owner-only file beside `path` and rename it over `path` (a rename
    replaces a link that appeared meanwhile, never the file it points to)."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=".trades-", suffix=".csv", dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            write(out)
        check_target(path, overwrite=True)
        os.replace(temporary, path)
    except (OSError, ValidationError) as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, ValidationError):
            raise
        raise _unwritable(path, exc) from None


def write_csv(
    path: Path,
    trades: Sequence[TradeView],
    address: str | None = None,
    *,
    overwrite: bool = False,
) -> int:
    """Write `trades` in the order given; return the number of rows written.

    Raises ValidationError (field "csv") with a message fit for the user, and its
    subclass TargetExists when `path` exists and `overwrite` is not set.
    """
    path = Path(path)
    check_target(path, overwrite)
    write = _writer(trades, address)
    if overwrite and os.path.lexists(path):
        _replace(path, write)
    else:
        _create(path, write)
    return len(trades)


def _unwritable(path: Path, exc: OSError) -> ValidationError:
    return ValidationError(f"cannot write {path}: {exc.strerror or exc}", field=FIELD)


def matching_trades(spec: TradeFilter) -> list[TradeView]:
    """Every trade matching `spec`, oldest first (as exports list them)."""
    return list(reversed(trades(spec)))


def export_trades(path: Path, spec: TradeFilter, *, overwrite: bool = False) -> int:
    """Write every trade matching `spec`, oldest first (as `trades export` does)."""
    return write_csv(path, matching_trades(spec), spec.address, overwrite=overwrite)


def trades_csv(spec: TradeFilter) -> tuple[str, int]:
    """Every trade matching `spec` as CSV text, oldest first, and how many there are."""
    rows = matching_trades(spec)
    return csv_text(rows, spec.address), len(rows)
