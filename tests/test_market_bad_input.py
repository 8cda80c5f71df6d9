"""Bad input to the market (issue 4): a clear message, a non-zero exit, nothing written.

Each case runs twice, once through the services and once through the real CLI, on
every backend. "Nothing written" compares the orders, trades, statistics, audit rows
and every prosumer's balances before and after; the only row a refusal may add is
the audit row of a permission denial, and the tests check that it is there.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

import pytest

from energy_tui.db.models import AuditLog
from energy_tui.errors import (
    EnergyError,
    InsufficientFunds,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from energy_tui.services.context import Actor
from energy_tui.services.market import cancel_order, invariants, sweep_expired
from tests.clock_support import freeze
from tests.key_support import key_file
from tests.market_support import Snapshot, key_for, place, snapshot, trader

# (field, typed value, what the message says: short enough for the line under a field)
VALUES = [
    ("amount", "0", "amount must be more than zero"),
    ("amount", "-1", "amount must be more than zero"),
    ("amount", "-5", "amount must be more than zero"),
    ("amount", "-0.00", "amount must be more than zero"),
    ("amount", "NaN", "amount 'NaN' is not a number like 0.25"),
    ("amount", "Infinity", "amount 'Infinity' is not a number"),
    ("amount", "1e999", "amount '1e999' is not a number"),
    ("amount", "1e3", "amount '1e3' is not a number"),
    ("amount", "abc", "amount 'abc' is not a number"),
    ("amount", "", "amount '' is not a number"),
    ("amount", "1.234", "amount has more than 2 decimals"),
    ("amount", "0.001", "amount has more than 2 decimals"),
    ("amount", "10000000000000", "amount is too large: at most 9999999999999.99 kWh"),
    ("amount", "0,25", "amount '0,25': use a point for decimals: 0.25"),
    ("amount", "1,000.5", "amount '1,000.5': use a point for decimals: 0.25"),
    # Decimal() reads these three as 10, 12 and 10: a trader never types them meaning so
    ("amount", "\u0661\u0660", "amount '\u0661\u0660': type the digits 0-9"),
    ("amount", "\uff11\uff12", "amount '\uff11\uff12': type the digits 0-9"),
    ("amount", "1_0", "amount '1_0': no spaces or '_' inside a number"),
    ("amount", "1 000", "amount '1 000': no spaces or '_' inside a number"),
    ("price", "0", "price must be more than zero"),
    ("price", "-0.1", "price must be more than zero"),
    ("price", "-5", "price must be more than zero"),
    ("price", "NaN", "price 'NaN' is not a number"),
    ("price", "sNaN", "price 'sNaN' is not a number"),
    ("price", "Infinity", "price 'Infinity' is not a number"),
    ("price", "1e999", "price '1e999' is not a number"),
    ("price", "0,15", "price '0,15': use a point for decimals: 0.25"),
    ("price", "0,25", "price '0,25': use a point for decimals: 0.25"),
    ("price", "0.12345", "price has more than 4 decimals"),
    ("price", "1000000", "price is too large: at most 999999.9999 WATT/kWh"),
    ("price", "\u0661\u0660", "price '\u0661\u0660': type the digits 0-9"),
    ("price", "\uff11\uff12", "price '\uff11\uff12': type the digits 0-9"),
    ("price", "1_0", "price '1_0': no spaces or '_' inside a number"),
    ("price", "0.2\u00a05", ": no spaces or '_' inside a number"),
]
SHORT = 80  # characters: one line under a field, or after `energy-tui: `


@dataclasses.dataclass
class Desk:
    """Alice and Bob with a few orders in every state."""

    alice: Actor
    bob: Actor
    alice_key: str
    bob_key: str
    read_key: str
    bobs_open_buy: uuid.UUID
    alices_filled: uuid.UUID
    alices_cancelled: uuid.UUID
    alices_expired: uuid.UUID


@pytest.fixture
def desk(backend, monkeypatch) -> Desk:
    now = freeze(monkeypatch)
    alice, bob = trader("alice", watt="10", energy="10"), trader("bob", watt="100", energy="50")
    alice_key, bob_key = key_for("alice"), key_for("bob")
    trader("reader")
    read_key = key_for("reader", "read")
    expired = place(alice, "buy", "1", "0.0100", expires="1h").order.id
    now.advance(hours=2)
    assert sweep_expired() == 1
    place(bob, "sell", "1", "0.2500")
    filled = place(alice, "buy", "1", "0.2500").order.id  # pays 0.25 + fee 0.0125 -> 0.02
    cancelled = place(alice, "buy", "1", "0.1000").order.id
    cancel_order(alice, cancelled)
    place(alice, "sell", "2", "0.3000")  # rests: alice now has 9.00 kWh available
    bobs_buy = place(bob, "buy", "1", "0.0500").order.id
    return Desk(alice, bob, alice_key, bob_key, read_key, bobs_buy, filled, cancelled, expired)


@pytest.fixture
def run(cli, backend):
    return lambda *args: cli("--db", backend.url, *args)


def unchanged_but_denials(before: Snapshot, denials: int = 0) -> None:
    """Nothing written, except `denials` new audit rows with outcome `denied`."""
    after = snapshot()
    assert dataclasses.replace(after, audit=before.audit) == before
    assert after.audit == before.audit + denials
    if denials:
        newest = AuditLog.select().order_by(AuditLog.id.desc()).limit(denials)
        assert {row.outcome for row in newest} == {"denied"}
    assert invariants.check() == []


def one_line_error(result, code: int, fragment: str) -> None:
    assert result.code == code, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("energy-tui: ")
    assert fragment in lines[0]


# --- amounts and prices --------------------------------------------------------------


@pytest.mark.parametrize(("field", "raw", "message"), VALUES)
def test_service_rejects_out_of_range_value_naming_what_is_accepted(desk, field, raw, message):
    amount, price = (raw, "0.1000") if field == "amount" else ("1", raw)
    before = snapshot()
    with pytest.raises(ValidationError) as error:
        place(desk.alice, "buy", amount, price)
    assert message in str(error.value)
    assert len(str(error.value)) <= SHORT
    assert error.value.field == field
    unchanged_but_denials(before)


@pytest.mark.parametrize(("field", "raw", "message"), VALUES)
def test_cli_rejects_out_of_range_value_with_one_line_and_exit_2(desk, run, field, raw, message):
    amount, price = (raw, "0.1000") if field == "amount" else ("1", raw)
    before = snapshot()
    result = run("order", "place", "buy", amount, price, *key_file(desk.alice_key))
    one_line_error(result, 2, message)
    unchanged_but_denials(before)


def test_unknown_side_is_rejected(desk, run):
    before = snapshot()
    with pytest.raises(ValidationError, match="unknown side 'hold': expected one of buy, sell"):
        place(desk.alice, "hold", "1", "0.1000")
    one_line_error(
        run("order", "place", "hold", "1", "0.1", *key_file(desk.alice_key)), 2, "unknown side"
    )
    unchanged_but_denials(before)


# --- what the prosumer has and holds -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    service: Callable[[Desk], object]
    cli: Callable[[Desk], list[str]]
    error: type[EnergyError]
    message: str
    code: int = 2
    denials: int = 0

    def __str__(self) -> str:
        return self.name


CASES = [
    Case(
        "buying_without_enough_watt",
        lambda d: place(d.alice, "buy", "100", "0.2000"),
        lambda d: ["order", "place", "buy", "100", "0.2000", *key_file(d.alice_key)],
        InsufficientFunds,
        "buying 100.00 kWh at 0.2000 needs 21.00 WATT (grid fee included): "
        "only 9.73 WATT available",
    ),
    Case(
        "selling_more_energy_than_available",
        lambda d: place(d.alice, "sell", "9.01", "0.5000"),
        lambda d: ["order", "place", "sell", "9.01", "0.5000", *key_file(d.alice_key)],
        InsufficientFunds,
        "cannot sell 9.01 kWh: only 9.00 kWh available (2.00 kWh held by open sell orders)",
    ),
    Case(
        "crossing_own_resting_order",
        lambda d: place(d.alice, "buy", "1", "0.3000"),
        lambda d: ["order", "place", "buy", "1", "0.3000", *key_file(d.alice_key)],
        ValidationError,
        "would trade with your own sell order at 0.3000: cancel that order first",
    ),
    Case(
        "expiry_in_the_past",
        lambda d: place(d.alice, "buy", "1", "0.1000", expires="2020-01-01"),
        lambda d: [
            *("order", "place", "buy", "1", "0.1000", "--expires", "2020-01-01"),
            *key_file(d.alice_key),
        ],
        ValidationError,
        "expiry '2020-01-01' is not in the future",
    ),
    Case(
        "expiry_not_understood",
        lambda d: place(d.alice, "buy", "1", "0.1000", expires="soon"),
        lambda d: [
            *("order", "place", "buy", "1", "0.1000", "--expires", "soon"),
            *key_file(d.alice_key),
        ],
        ValidationError,
        "expiry 'soon' is not understood",
    ),
    Case(
        "expiry_beyond_the_calendar",
        lambda d: place(d.alice, "buy", "1", "0.1000", expires="999999w"),
        lambda d: [
            *("order", "place", "buy", "1", "0.1000", "--expires", "999999w"),
            *key_file(d.alice_key),
        ],
        ValidationError,
        "expiry '999999w' is out of range",
    ),
    Case(
        "cancelling_someone_elses_order",
        lambda d: cancel_order(d.alice, d.bobs_open_buy),
        lambda d: ["order", "cancel", str(d.bobs_open_buy), *key_file(d.alice_key)],
        PermissionDenied,
        "is not yours to cancel",
        code=3,
        denials=1,
    ),
    Case(
        "cancelling_an_unknown_order",
        lambda d: cancel_order(d.alice, uuid.UUID(int=7)),
        lambda d: ["order", "cancel", str(uuid.UUID(int=7)), *key_file(d.alice_key)],
        NotFound,
        f"no order with id {uuid.UUID(int=7)}",
    ),
    Case(
        "cancelling_with_a_malformed_id",
        lambda d: cancel_order(d.alice, "12; DROP TABLE"),
        lambda d: ["order", "cancel", "12; DROP TABLE", *key_file(d.alice_key)],
        ValidationError,
        "'12; DROP TABLE' is not an order id",
    ),
    Case(
        "cancelling_a_filled_order",
        lambda d: cancel_order(d.alice, d.alices_filled),
        lambda d: ["order", "cancel", str(d.alices_filled), *key_file(d.alice_key)],
        ValidationError,
        "is already filled: only open orders can be cancelled",
    ),
    Case(
        "cancelling_an_already_cancelled_order",
        lambda d: cancel_order(d.alice, d.alices_cancelled),
        lambda d: ["order", "cancel", str(d.alices_cancelled), *key_file(d.alice_key)],
        ValidationError,
        "is already cancelled",
    ),
    Case(
        "cancelling_an_expired_order",
        lambda d: cancel_order(d.alice, d.alices_expired),
        lambda d: ["order", "cancel", str(d.alices_expired), *key_file(d.alice_key)],
        ValidationError,
        "is already expired",
    ),
    Case(
        "placing_with_a_read_key",
        lambda d: place(
            dataclasses.replace(d.bob, permissions=frozenset({"read"})), "buy", "1", "0.1000"
        ),
        lambda d: ["order", "place", "buy", "1", "0.1000", *key_file(d.read_key)],
        PermissionDenied,
        "may not trade for own prosumer with this API key",
        code=3,
        denials=1,
    ),
    Case(
        "cancelling_with_a_read_key",
        lambda d: cancel_order(
            dataclasses.replace(d.bob, permissions=frozenset({"read"})), d.bobs_open_buy
        ),
        lambda d: ["order", "cancel", str(d.bobs_open_buy), *key_file(d.read_key)],
        PermissionDenied,
        "with this API key",
        code=3,
        denials=1,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_service_refuses_with_a_clear_message_and_writes_nothing(desk, case):
    before = snapshot()
    with pytest.raises(case.error) as error:
        case.service(desk)
    assert case.message in str(error.value)
    unchanged_but_denials(before, case.denials)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_cli_refuses_with_one_line_and_non_zero_exit_and_writes_nothing(desk, run, case):
    before = snapshot()
    one_line_error(run(*case.cli(desk)), case.code, case.message)
    unchanged_but_denials(before, case.denials)


def test_viewer_may_not_place_orders(desk):
    viewer = Actor(label="user:vic", role="viewer", username="vic", prosumer_address="bob")
    before = snapshot()
    with pytest.raises(PermissionDenied, match="as viewer"):
        place(viewer, "buy", "1", "0.1000")
    unchanged_but_denials(before, 1)


def test_user_without_prosumer_is_told_to_get_one_linked(desk):
    loner = Actor(label="user:lone", role="trader", username="lone")
    before = snapshot()
    with pytest.raises(ValidationError, match="lone is not linked to a prosumer"):
        place(loner, "buy", "1", "0.1000")
    unchanged_but_denials(before)


# --- keys ----------------------------------------------------------------------------


def test_cli_order_without_a_key_says_how_to_give_one(desk, run):
    before = snapshot()
    one_line_error(run("order", "place", "buy", "1", "0.1"), 3, "--api-key-file FILE")
    unchanged_but_denials(before)


def test_cli_order_with_a_malformed_key_is_refused_and_audited(desk, run):
    before = snapshot()
    one_line_error(
        run("order", "place", "buy", "1", "0.1", *key_file("etk_nope")), 3, "malformed API key"
    )
    unchanged_but_denials(before, 1)


def test_cli_key_from_the_environment_is_used_when_no_flag_is_given(desk, run, monkeypatch):
    monkeypatch.setenv("ENERGY_TUI_API_KEY", desk.read_key)
    before = snapshot()
    one_line_error(run("order", "place", "buy", "1", "0.1"), 3, "with this API key")
    unchanged_but_denials(before, 1)


def test_trader_key_cannot_run_operator_commands(desk, run):
    before = snapshot()
    for command in (("market", "sweep"), ("market", "check"), ("stats", "rebuild")):
        one_line_error(run(*command, *key_file(desk.alice_key)), 3, "permission denied")
    unchanged_but_denials(before, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("book", "--depth", "0"), "--depth '0' is not valid"),
        (("book", "--depth", "ten"), "--depth 'ten' is not valid"),
        (("trades", "list", "--limit", "-3"), "--limit '-3' is not valid"),
        (("trades", "list", "--since", "yesterday"), "--since 'yesterday' is not understood"),
        (
            ("trades", "list", "--since", "2026-03-02", "--until", "2026-03-01"),
            "--since must be before --until",
        ),
        (("trades", "list", "--side", "both"), "--side 'both' is not valid"),
        (("stats", "show", "--days", "0"), "--days '0' is not valid"),
        (("trades", "export", "--csv", "/no/such/dir/t.csv"), "cannot write /no/such/dir/t.csv"),
    ],
)
def test_cli_read_commands_reject_bad_options_with_one_line(desk, run, args, message):
    before = snapshot()
    one_line_error(run(*args), 2, message)
    unchanged_but_denials(before)
