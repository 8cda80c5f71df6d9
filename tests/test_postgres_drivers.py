"""Which PostgreSQL driver energy-tui uses: psycopg 3 when installed, else psycopg2
(the `postgres2` extra), else none (a clear message at connect). The drivers are
faked in `sys.modules`, so the choice is proved whichever are installed here."""

from __future__ import annotations

import sys
import types
from typing import Any

import peewee
import pytest

from energy_tui.db import drivers
from energy_tui.db.connect import check_reachable, open_database
from energy_tui.db.notify import ChangeListener
from energy_tui.db.urls import parse_url
from energy_tui.errors import ConfigError

URL = parse_url("postgresql://someone@127.0.0.1:1/nowhere")
WIRED = (
    *("psycopg", "TransactionStatus", "Json_pg3", "Jsonb_pg3"),
    *("psycopg2", "pg_extensions", "pg_register_uuid", "Json_pg2"),
)
STATUSES = ("txn_idle", "txn_inerror", "txn_unknown")


@pytest.fixture
def no_driver_loaded(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Peewee as a fresh import with the drivers hidden left it; all restored after."""
    for name in WIRED:
        monkeypatch.setattr(peewee, name, None, raising=False)
    for adapter in (peewee.Psycopg2Adapter, peewee.Psycopg3Adapter):
        for name in STATUSES:
            monkeypatch.setattr(adapter, name, getattr(adapter, name, None), raising=False)
    return monkeypatch


def fake_psycopg2(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A psycopg2 in sys.modules (the modules and names Peewee uses); the list records
    calls of its `register_uuid`."""
    calls: list[str] = []
    root = types.ModuleType("psycopg2")
    extensions = types.ModuleType("psycopg2.extensions")
    extras = types.ModuleType("psycopg2.extras")
    for i, name in enumerate(("IDLE", "INERROR", "UNKNOWN")):
        setattr(extensions, f"TRANSACTION_STATUS_{name}", f"pg2-{i}")
    extras.Json = type("Json", (), {})  # type: ignore[attr-defined]
    extras.register_uuid = lambda *a: calls.append("register_uuid")  # type: ignore[attr-defined]
    root.extensions, root.extras = extensions, extras  # type: ignore[attr-defined]
    for module in (root, extensions, extras):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    return calls


def without(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """`import name` raises ImportError, as when it is not installed."""
    monkeypatch.setitem(sys.modules, name, None)


def adapter_of(database: Any) -> Any:
    return database._adapter


def test_with_only_psycopg2_installed_it_drives_postgresql(no_driver_loaded) -> None:
    without(no_driver_loaded, "psycopg")
    calls = fake_psycopg2(no_driver_loaded)

    database = open_database(URL)

    assert drivers.postgres_driver() == "psycopg2"
    assert isinstance(adapter_of(database), peewee.Psycopg2Adapter)
    assert peewee.psycopg2 is sys.modules["psycopg2"]
    assert calls == ["register_uuid"]  # UUID columns read as UUIDs, as Peewee does
    assert peewee.Psycopg2Adapter.txn_idle == "pg2-0"
    assert ChangeListener.of(database) is None  # no LISTEN on psycopg2: the app polls


def test_with_both_installed_psycopg_3_is_preferred(no_driver_loaded) -> None:
    pytest.importorskip("psycopg")
    calls = fake_psycopg2(no_driver_loaded)

    database = open_database(URL)

    assert drivers.postgres_driver() == "psycopg"
    assert isinstance(adapter_of(database), peewee.Psycopg3Adapter)
    assert peewee.psycopg2 is None and calls == []  # psycopg2 not even imported


def test_with_no_driver_the_message_names_the_extra_to_install(no_driver_loaded) -> None:
    without(no_driver_loaded, "psycopg")
    without(no_driver_loaded, "psycopg2")

    database = open_database(URL)

    assert drivers.postgres_driver() is None
    with pytest.raises(ConfigError, match=r"pip install 'energy-tui\[postgres\]'"):
        check_reachable(database, URL)
