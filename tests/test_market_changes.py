"""The market's change notifications (PostgreSQL LISTEN/NOTIFY, migration 0012): a
listener hears every committed change and nothing rolled back, survives a lost
connection, and is absent where the backend has no notifications."""

from __future__ import annotations

import pytest

from energy_tui.db import notify
from energy_tui.errors import EnergyError
from energy_tui.services.market import changes
from tests.market_support import place, trader


def test_sqlite_and_mysql_have_no_listener_and_poll(backend) -> None:
    if backend.name == "postgres":
        pytest.skip("PostgreSQL has one")
    assert changes.listener() is None


@pytest.fixture
def listener(backend):
    if backend.name != "postgres":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    listening = changes.listener()
    assert listening is not None
    assert listening.wait_for_change(0.01) is False  # connects and LISTENs; nothing yet
    yield listening
    listening.close()


def test_a_committed_placement_is_heard_and_a_refused_one_is_not(listener) -> None:
    alice = trader("alice", watt="100")
    assert listener.wait_for_change(0.2) is False  # deposits move no market version
    place(alice, "buy", "1", "0.1000")
    assert listener.wait_for_change(10) is True
    with pytest.raises(EnergyError):
        place(alice, "buy", "100000", "0.1000")  # more than alice has: rolled back
    assert listener.wait_for_change(0.3) is False


def test_a_dropped_connection_answers_false_then_reconnects(listener, backend, monkeypatch) -> None:
    monkeypatch.setattr(notify, "RECONNECT_SECONDS", 0.0)
    alice = trader("alice", watt="100")
    backend.database.execute_sql("SELECT pg_terminate_backend(%s)", (listener.backend_pid(),))
    assert listener.wait_for_change(5) is False  # the loss, not an exception
    assert not listener.connected
    assert listener.wait_for_change(0.01) is False  # connects and LISTENs again
    place(alice, "buy", "1", "0.1000")
    assert listener.wait_for_change(10) is True


def test_a_closed_listener_answers_false_at_once(listener) -> None:
    alice = trader("alice", watt="100")
    listener.close()
    place(alice, "buy", "1", "0.1000")
    assert listener.closed and not listener.connected
    assert listener.wait_for_change(10) is False
