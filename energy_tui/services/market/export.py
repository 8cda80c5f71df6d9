"""Trades to CSV, shared by `energy-tui trades export` and the Trades screen.

Decimals are written as the exact text the database holds (never through a float),
and the file appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

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


def default_name(now: dt.datetime) -> str:
    """`energy-trades-YYYYMMDD-HHMM.csv` for the moment `now`."""
    return f"energy-trades-{now:%Y%m%d-%H%M}.csv"


def header(address: str | None) -> list[str]:
    """The column names; exports of one prosumer's trades add its `side`."""
    return [*CSV_COLUMNS, "side"] if address else list(CSV_COLUMNS)


def csv_row(t: TradeView, address: str | None = None) -> list[str]:
    values = [
        t.id,
        t.seq,
        t.executed_at.isoformat(sep=" "),
        t.buyer_address,
        t.seller_address,
        t.amount,
        t.price,
        t.total,
        t.fee,
        t.buyer_total,
        t.taker_side or "",
        t.buy_order_id or "",
        t.sell_order_id or "",
    ]
    if address:
        values.append(t.side_for(address) or "")
    return [str(value) for value in values]  # exact decimals as text, never floats


def write_csv(path: Path, trades: Sequence[TradeView], address: str | None = None) -> int:
    """Write `trades` in the order given; return the number of rows written.

    All or nothing: a temporary file beside `path`, renamed over it at the end.
    Raises ValidationError (field "csv") with a message fit for the user.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise ValidationError(f"cannot write {path}: the folder {folder} does not exist", "csv")
    try:
        handle, temporary = tempfile.mkstemp(prefix=".trades-", suffix=".csv", dir=folder)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            _write_rows(out, header(address), (csv_row(t, address) for t in trades))
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise _unwritable(path, exc) from None
    return len(trades)


def _write_rows(out: TextIO, head: list[str], rows: Iterable[list[str]]) -> None:
    writer = csv.writer(out)
    writer.writerow(head)
    writer.writerows(rows)


def _unwritable(path: Path, exc: OSError) -> ValidationError:
    return ValidationError(f"cannot write {path}: {exc.strerror or exc}", field="csv")


def export_trades(path: Path, spec: TradeFilter) -> int:
    """Write every trade matching `spec`, oldest first (as `trades export` does)."""
    rows = list(reversed(trades(spec)))
    return write_csv(path, rows, spec.address)
