"""Database drivers are imported when a backend is first opened, not with Peewee.

Peewee imports every driver it can find at its own import: psycopg alone costs about
100 ms, paid by `energy-tui --help` and by every SQLite user. `energy_tui/__init__`
installs `PeeweeWithoutDrivers`, which hides the drivers while Peewee's module runs
(Peewee then records each as absent); `load(backend)` imports the one a database URL
needs and hands it to Peewee, as Peewee's own import would have.

For PostgreSQL, psycopg 3 (the `postgres` extra) is preferred; an install that has
only psycopg2 (the `postgres2` extra) gets it, wired into Peewee as Peewee's own
import would have (`postgres_driver` says which one is in use).
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType
from typing import Any

# What Peewee's modules try to import at their top.
DRIVERS = ("psycopg2cffi", "psycopg2", "psycopg", "pymysql", "MySQLdb")
# Modules run with the drivers hidden: Peewee, and playhouse.migrate's chain to
# postgres_ext (via cockroachdb), which wires hstore, unused here, when psycopg is found.
WITHOUT_DRIVERS = frozenset(
    ("peewee", "playhouse.migrate", "playhouse.cockroachdb", "playhouse.postgres_ext")
)


class PeeweeWithoutDrivers:
    """A meta path finder: finds `peewee` (and WITHOUT_DRIVERS) as usual, but runs
    their modules with DRIVERS hidden (not importlib.abc classes: those cost more to
    import than this saves)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name not in WITHOUT_DRIVERS:
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _HidingLoader(spec.loader)  # type: ignore[assignment]
        return spec


class _HidingLoader:
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        hidden = [name for name in DRIVERS if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
        try:
            self.loader.exec_module(module)
        finally:
            for name in hidden:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]


def install() -> None:
    """Hide the drivers from Peewee's import (no effect once Peewee is imported)."""
    if not any(isinstance(finder, PeeweeWithoutDrivers) for finder in sys.meta_path):
        sys.meta_path.insert(0, PeeweeWithoutDrivers())


def load(backend: str) -> None:
    """Import the driver `backend` needs and give it to Peewee (before building the
    database: Peewee picks its PostgreSQL adapter when the database is made). A
    missing driver is left absent: Peewee then says so at connect."""
    import peewee

    if backend == "postgres" and postgres_driver() is None:
        _load_psycopg3() or _load_psycopg2()
    elif backend == "mysql" and peewee.mysql is None:
        try:
            import pymysql  # type: ignore[import-untyped]
        except ImportError:
            return
        peewee.mysql = pymysql


def postgres_driver() -> str | None:
    """The PostgreSQL driver Peewee has: "psycopg" (3), "psycopg2", or None."""
    import peewee

    if peewee.psycopg is not None:
        return "psycopg"
    return "psycopg2" if peewee.psycopg2 is not None else None


def _load_psycopg3() -> bool:
    import peewee

    try:
        import psycopg
        from psycopg.pq import TransactionStatus
        from psycopg.types.json import Json, Jsonb
    except ImportError:
        return False
    peewee.psycopg, peewee.TransactionStatus = psycopg, TransactionStatus
    peewee.Json_pg3, peewee.Jsonb_pg3 = Json, Jsonb
    adapter = peewee.Psycopg3Adapter
    adapter.txn_idle = TransactionStatus.IDLE
    adapter.txn_inerror = TransactionStatus.INERROR
    adapter.txn_unknown = TransactionStatus.UNKNOWN
    return True


def _load_psycopg2() -> bool:
    """psycopg2, as Peewee's import wires it: its extensions, Json, and UUID columns
    read as UUIDs (`register_uuid`, which Peewee calls at its import)."""
    import peewee

    try:
        import psycopg2
        from psycopg2 import extensions
        from psycopg2.extras import Json, register_uuid
    except ImportError:
        return False
    register_uuid()
    peewee.psycopg2, peewee.pg_extensions = psycopg2, extensions
    peewee.pg_register_uuid, peewee.Json_pg2 = register_uuid, Json
    adapter = peewee.Psycopg2Adapter
    adapter.txn_idle = extensions.TRANSACTION_STATUS_IDLE
    adapter.txn_inerror = extensions.TRANSACTION_STATUS_INERROR
    adapter.txn_unknown = extensions.TRANSACTION_STATUS_UNKNOWN
    return True
