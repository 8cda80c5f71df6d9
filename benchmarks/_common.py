"""Shared set-up for the benchmark scripts (not tests): a database to fill and time."""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import peewee

from energy_tui.db import migrations
from energy_tui.db.connect import open_database
from energy_tui.db.models import MODELS, ApiClientOrder, SchemaVersion, db
from energy_tui.db.urls import parse_url


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--db", help="database URL (default: a new SQLite file in a temp dir)")
    p.add_argument(
        "--reset",
        action="store_true",
        help="drop energy-tui's tables in --db first (required for a non-empty db)",
    )
    p.add_argument("--seed", type=int, default=7)
    return p


def prepare(url: str | None, reset: bool) -> tuple[str, peewee.Database]:
    """Bind the models to a fresh, migrated database and return (url, database)."""
    if url is None:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    database = open_database(parse_url(url), pool_size=2, timeout=30)
    db.initialize(database)
    database.connect()
    if reset:
        database.drop_tables([ApiClientOrder, *MODELS, SchemaVersion], safe=True)
    elif migrations.status(database).current:
        raise SystemExit(f"{url} already holds an energy-tui schema: pass --reset to drop it")
    migrations.migrate(database)
    return url, database


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"p50 {percentile(ms, 0.5):.3f} ms, p99 {percentile(ms, 0.99):.3f} ms, "
        f"mean {statistics.fmean(ms):.3f} ms"
    )
