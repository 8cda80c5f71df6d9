"""Versioned, forward-only schema migrations on SQLite, PostgreSQL and MySQL.

Each step is a module `mNNNN_name.py` with `up(database)`. The schema only grows
(DESIGN §2: columns are added, never renamed away), so every step is written to be
safe on a database that already has what it adds: the baseline creates missing
tables from the models and adds the columns a seed-made table lacks; later steps add
their columns only where missing. Applied versions are kept in `schema_version`.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable

from peewee import Database

from energy_tui import clock
from energy_tui.config import Settings
from energy_tui.db import charset
from energy_tui.db.connect import backend_of
from energy_tui.db.models import SchemaVersion


@dataclasses.dataclass(frozen=True)
class Step:
    version: int
    name: str
    module: str  # imported when the step runs: reading the status imports no step

    @property
    def up(self) -> Callable[..., None]:
        """up(database), or up(database, settings) to seed from them."""
        up: Callable[..., None] = importlib.import_module(self.module).up
        return up

    def run(self, database: Database, settings: Settings | None) -> None:
        if len(inspect.signature(self.up).parameters) > 1:
            self.up(database, settings)
        else:
            self.up(database)


@dataclasses.dataclass(frozen=True)
class Status:
    current: int
    applied: list[Step]
    pending: list[Step]


def steps() -> list[Step]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            found.append(Step(int(info.name[1:5]), info.name[6:], f"{__name__}.{info.name}"))
    return sorted(found, key=lambda step: step.version)


def _applied_versions(database: Database) -> set[int]:
    if not database.table_exists(SchemaVersion._meta.table_name):
        return set()
    return {row.version for row in SchemaVersion.select(SchemaVersion.version)}


def status(database: Database) -> Status:
    done = _applied_versions(database)
    all_steps = steps()
    applied = [step for step in all_steps if step.version in done]
    pending = [step for step in all_steps if step.version not in done]
    return Status(max(done, default=0), applied, pending)


def migrate(database: Database, settings: Settings | None = None) -> list[Step]:
    """Apply every pending step in order; return what was applied (empty if none).

    `settings` seed what a step stores once (the market rules); None: the defaults.
    """
    if backend_of(database) == "mysql":
        charset.require_full_unicode(database)  # before anything is written
    database.create_tables([SchemaVersion], safe=True)
    applied = []
    for step in status(database).pending:
        with database.atomic():
            step.run(database, settings)
            SchemaVersion.create(version=step.version, name=step.name, applied_at=clock.now())
        applied.append(step)
    return applied
