"""`energy-tui prosumer ...` through the real entry point, on every backend."""

from __future__ import annotations

import json
import shlex
from decimal import Decimal
from pathlib import Path

import pytest

from energy_tui.db.models import MODELS, AuditLog, MeterReading, Prosumer

OS_USER = "opsuser"
SSH_IP = "203.0.113.7"
MAX_WATT = "9999999999999.99"


@pytest.fixture(autouse=True)
def os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", OS_USER)  # what getpass.getuser() reads first


@pytest.fixture
def run(cli, backend):
    """The CLI against the test backend: run("prosumer", "list")."""
    return lambda *args, stdin=None: cli("--db", backend.url, *args, stdin=stdin)


def ok_json(run, *args: str):
    result = run(*args, "--json")
    assert result.code == 0, result.err
    assert result.err == ""
    return json.loads(result.out)


def house(run, deposit: str | None = "100.00") -> None:
    assert run("prosumer", "add", "house-1", "--name", "House One").code == 0
    if deposit:
        assert run("prosumer", "deposit", "house-1", deposit).code == 0


def snapshot() -> dict[str, object]:
    """Everything a failed command must leave as it was."""
    return {
        "counts": {model._meta.table_name: model.select().count() for model in MODELS},
        "prosumers": list(Prosumer.select().order_by(Prosumer.address).tuples()),
        "readings": list(MeterReading.select().order_by(MeterReading.id).tuples()),
    }


def audit_rows(event_type: str) -> list[AuditLog]:
    return list(AuditLog.select().where(AuditLog.event_type == event_type).order_by(AuditLog.id))


def test_add_creates_a_residential_prosumer_with_zero_balances(run):
    created = ok_json(run, "prosumer", "add", "house-1", "--name", "House One")
    assert created["address"] == "house-1"
    assert created["kind"] == "residential"
    for key in ("watt_total", "watt_reserved", "watt_available", "grid_tokens"):
        assert created[key] == "0.00"
    assert created["energy_credits"] == "0.00"
    row = Prosumer.get_by_id("house-1")
    assert (row.name, row.kind, row.watt_tokens) == ("House One", "residential", Decimal(0))


@pytest.mark.parametrize("kind", ["residential", "commercial", "industrial", "grid_operator"])
def test_add_accepts_every_kind(run, kind):
    assert ok_json(run, "prosumer", "add", "p-1", "--name", "P", "--kind", kind)["kind"] == kind


def test_add_prints_a_sentence_without_json(run):
    result = run("prosumer", "add", "house-1", "--name", "House One", "--kind", "commercial")
    assert result.code == 0
    assert result.out == "created commercial prosumer 'house-1' (House One)\n"


def test_list_shows_every_prosumer_in_address_order_as_table_and_json(run):
    house(run, "12.34")
    assert run("prosumer", "add", "acme", "--name", "Acme Works", "--kind", "industrial").code == 0
    rows = ok_json(run, "prosumer", "list")
    assert [(r["address"], r["watt_total"]) for r in rows] == [
        ("acme", "0.00"),
        ("house-1", "12.34"),
    ]
    table = run("prosumer", "list").out.splitlines()
    assert table[0].split() == [
        "ADDRESS", "NAME", "KIND", "WATT", "TOTAL", "WATT", "AVAILABLE", "ENERGY",
        "CREDITS", "ENERGY", "AVAILABLE", "GRID", "TOKENS",
    ]  # fmt: skip
    assert table[1].startswith("acme ")
    assert table[2].startswith("house-1 ")
    assert "12.34" in table[2]


def test_list_of_no_prosumers_says_none(run):
    result = run("prosumer", "list")
    assert result.code == 0
    assert "(none)" in result.out
    assert ok_json(run, "prosumer", "list") == []


def test_show_prints_watt_total_reserved_available_energy_and_grid(run):
    house(run, "100.50")
    out = run("prosumer", "show", "house-1").out
    lines = dict(line.split("  ", 1) for line in out.splitlines())
    assert lines["WATT total"].strip() == "100.50"
    assert lines["WATT reserved"].strip() == "0.00"
    assert lines["WATT available"].strip() == "100.50"
    assert lines["energy credits"].strip() == "0.00 kWh"
    assert lines["GRID"].strip() == "0.00"


def test_show_unknown_prosumer_exits_2(run):
    result = run("prosumer", "show", "ghost")
    assert result.code == 2
    assert result.err == "energy-tui: no prosumer with address 'ghost'\n"


def test_deposits_and_withdrawals_add_up_exactly(run):
    house(run, None)
    for _ in range(10):
        shown = ok_json(run, "prosumer", "deposit", "house-1", "0.10")
    assert shown["watt_total"] == "1.00"
    assert ok_json(run, "prosumer", "deposit", "house-1", "0.2")["watt_total"] == "1.20"
    shown = ok_json(run, "prosumer", "withdraw", "house-1", "0.3")
    assert (shown["watt_total"], shown["watt_available"]) == ("0.90", "0.90")
    assert Prosumer.get_by_id("house-1").watt_tokens == Decimal("0.90")


def test_balance_holds_the_column_maximum_exactly_and_refuses_one_cent_more(run):
    house(run, "0.01")
    shown = ok_json(run, "prosumer", "deposit", "house-1", "9999999999999.98")
    assert shown["watt_total"] == MAX_WATT
    assert ok_json(run, "prosumer", "show", "house-1")["watt_total"] == MAX_WATT
    result = run("prosumer", "deposit", "house-1", "0.01")
    assert result.code == 2
    assert f"past {MAX_WATT} WATT" in result.err
    assert str(Prosumer.get_by_id("house-1").watt_tokens) == MAX_WATT


def test_withdraw_all_that_is_available_leaves_zero(run):
    house(run, "100.00")
    assert ok_json(run, "prosumer", "withdraw", "house-1", "100")["watt_total"] == "0.00"


def test_withdraw_leaves_what_open_orders_reserve(run):
    house(run, "100.00")
    Prosumer.update(watt_reserved=Decimal("60.00")).where(Prosumer.address == "house-1").execute()
    before = snapshot()
    refused = run("prosumer", "withdraw", "house-1", "40.01")
    assert refused.code == 2
    assert refused.err == (
        "energy-tui: cannot withdraw 40.01 WATT: only 40.00 WATT available "
        "(60.00 reserved by open orders)\n"
    )
    assert snapshot() == before
    shown = ok_json(run, "prosumer", "withdraw", "house-1", "40.00")
    assert (shown["watt_total"], shown["watt_available"]) == ("60.00", "0.00")


def test_meter_readings_add_to_generation_consumption_and_credits_exactly(run):
    house(run, None)
    for _ in range(3):
        shown = ok_json(run, "prosumer", "meter", "house-1", "--generated", "0.1")
    shown = ok_json(run, "prosumer", "meter", "house-1", "--consumed", "0.05")
    assert (shown["energy_generated"], shown["energy_consumed"]) == ("0.30", "0.05")
    assert (shown["energy_credits"], shown["energy_available"]) == ("0.25", "0.25")
    shown = ok_json(
        run, "prosumer", "meter", "house-1", "--generated", "12.50", "--consumed", "2.25"
    )
    assert shown["energy_credits"] == "10.50"
    readings = list(MeterReading.select().order_by(MeterReading.id))
    assert len(readings) == 5
    assert (readings[-1].energy_generated, readings[-1].energy_consumed) == (
        Decimal("12.50"),
        Decimal("2.25"),
    )
    assert {reading.recorded_by for reading in readings} == {f"os:{OS_USER}"}


def test_consumption_beyond_generation_gives_negative_credits_not_an_error(run):
    house(run, None)
    shown = ok_json(run, "prosumer", "meter", "house-1", "--consumed", "3.5")
    assert shown["energy_credits"] == "-3.50"


def test_each_write_is_audited_with_os_user_and_ssh_client_address(run, monkeypatch):
    monkeypatch.setenv("SSH_CLIENT", f"{SSH_IP} 52114 22")
    house(run, "25.50")
    assert run("prosumer", "withdraw", "house-1", "0.50").code == 0
    assert run("prosumer", "meter", "house-1", "--generated", "1.25").code == 0
    events = list(AuditLog.select().order_by(AuditLog.id))
    assert [e.event_type for e in events] == [
        "prosumer_created",
        "deposit",
        "withdrawal",
        "meter_reading",
    ]
    for event in events:
        assert (event.actor, event.ip_address, event.outcome) == (
            f"os:{OS_USER}",
            SSH_IP,
            "success",
        )
    data = [json.loads(e.event_data) for e in events]
    assert data[0] == {"address": "house-1", "kind": "residential", "name": "House One"}
    assert data[1] == {"address": "house-1", "amount": "25.50", "balance": "25.50"}
    assert data[2] == {"address": "house-1", "amount": "0.50", "balance": "25.00"}
    assert data[3] == {"address": "house-1", "consumed": "0.00", "generated": "1.25"}


def test_audit_has_no_ip_address_outside_ssh(run):
    house(run, None)
    (event,) = audit_rows("prosumer_created")
    assert event.ip_address is None
    assert event.actor == f"os:{OS_USER}"


def test_reads_write_no_audit_rows(run):
    house(run, None)
    count = AuditLog.select().count()
    run("prosumer", "list")
    run("prosumer", "show", "house-1")
    assert AuditLog.select().count() == count


LONG = "x" * 10_000
NUMBER = "is not a number like 0.25"

# (command after "prosumer", what is wrong, what is accepted)
BAD_INPUTS = [
    (["deposit", "house-1", "abc"], "amount 'abc' is not a number", NUMBER),
    (["deposit", "house-1", ""], "amount '' is not a number", NUMBER),
    (["deposit", "house-1", "1,5"], "amount '1,5'", "use a point for decimals: 0.25"),
    (["deposit", "house-1", "-5"], "amount must be", "more than zero"),
    (["deposit", "house-1", "0"], "amount must be", "more than zero"),
    (["deposit", "house-1", "-0.00"], "amount must be", "more than zero"),
    (["deposit", "house-1", "1.234"], "amount has", "more than 2 decimals"),
    (["deposit", "house-1", "0.001"], "amount has", "more than 2 decimals"),
    (
        ["deposit", "house-1", "10000000000000"],
        "amount is too large",
        "at most 9999999999999.99 WATT",
    ),
    (["deposit", "house-1", "1e999"], "amount '1e999' is not a number", NUMBER),
    (["deposit", "house-1", "NaN"], "amount 'NaN' is not a number", NUMBER),
    (["deposit", "house-1", "sNaN"], "amount 'sNaN' is not a number", NUMBER),
    (["deposit", "house-1", "Infinity"], "amount 'Infinity' is not a number", NUMBER),
    (["deposit", "house-1", "inf"], "amount 'inf' is not a number", NUMBER),
    (["deposit", "house-1", MAX_WATT], f"past {MAX_WATT} WATT", "deposit would take"),
    (["withdraw", "house-1", "100.01"], "cannot withdraw 100.01 WATT", "only 100.00 WATT"),
    (["withdraw", "house-1", "abc"], "amount 'abc' is not a number", NUMBER),
    (["withdraw", "house-1", "0"], "amount must be", "more than zero"),
    (["withdraw", "house-1", "-1"], "amount must be", "more than zero"),
    (["withdraw", "house-1", "NaN"], "amount 'NaN' is not a number", NUMBER),
    (["withdraw", "house-1", "0.005"], "amount has", "more than 2 decimals"),
    (["meter", "house-1", "--generated", "abc"], "generated 'abc' is not a", NUMBER),
    (["meter", "house-1", "--generated", "-1"], "generated must be", "zero or more"),
    (["meter", "house-1", "--consumed", "-0.01"], "consumed must be", "zero or more"),
    (["meter", "house-1", "--generated", "1.001"], "generated has", "more than 2 decimals"),
    (["meter", "house-1", "--generated", "1e999"], "generated '1e999' is not a", NUMBER),
    (["meter", "house-1", "--consumed", "10000000000000"], "consumed is too large", "at most"),
    (["meter", "house-1", "--generated", "NaN"], "generated 'NaN' is not a", NUMBER),
    (["meter", "house-1", "--consumed", "Infinity"], "consumed 'Infinity' is not", NUMBER),
    (["meter", "house-1"], "a meter reading needs generated or consumed", "above 0 kWh"),
    (["meter", "house-1", "--generated", "0", "--consumed", "0"], "needs generated", "above"),
    (["add", "", "--name", "N"], "address must not be empty", "1-100 characters"),
    (["add", "  ", "--name", "N"], "address must not be empty", "1-100 characters"),
    (["add", LONG, "--name", "N"], "address is 10000 characters long", "at most 100"),
    (["add", "my house", "--name", "N"], "address must be", "letters, digits"),
    (["add", "new-1", "--name", ""], "name must not be empty", "1-200 characters"),
    (["add", "new-1", "--name", "   "], "name must not be empty", "1-200 characters"),
    (["add", "new-1", "--name", LONG], "name is 10000 characters long", "at most 200"),
    (["add", "new-1", "--name", "a\nb"], "name must not contain control", "characters"),
    (["add", "new-1", "--name", "N", "--kind", "alien"], "unknown kind 'alien'", "residential"),
    (["add", "new-1", "--name", "N", "--kind", ""], "unknown kind ''", "grid_operator"),
    (["add", "house-1", "--name", "Again"], "'house-1' already exists", "address"),
    (["deposit", "ghost", "1.00"], "no prosumer with address 'ghost'", "ghost"),
    (["withdraw", "ghost", "1.00"], "no prosumer with address 'ghost'", "ghost"),
    (["meter", "ghost", "--generated", "1"], "no prosumer with address 'ghost'", "ghost"),
]


@pytest.mark.parametrize(
    ("args", "wrong", "accepted"),
    BAD_INPUTS,
    ids=[" ".join(args)[:40] for args, _, _ in BAD_INPUTS],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(run, args, wrong, accepted):
    Prosumer.create(address="house-1", name="House One", watt_tokens=Decimal("100.00"))
    before = snapshot()
    result = run("prosumer", *args)
    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("energy-tui: ")
    assert result.err.endswith("\n")
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    assert len(result.err) < 300
    assert wrong in result.err
    assert accepted in result.err
    assert snapshot() == before


def test_longest_accepted_address_and_multibyte_name_round_trip(run):
    address = "a" * 100
    name = "Café ☀ 🔋 " + "é" * 191  # 200 characters, most of them multi-byte
    assert len(name) == 200
    created = ok_json(run, "prosumer", "add", address, "--name", name)
    assert (created["address"], created["name"]) == (address, name)
    shown = ok_json(run, "prosumer", "show", address)
    assert (shown["address"], shown["name"]) == (address, name)


def test_meter_reading_that_would_pass_the_column_maximum_is_refused(run):
    house(run, None)
    assert run("prosumer", "meter", "house-1", "--generated", MAX_WATT).code == 0
    before = snapshot()
    result = run("prosumer", "meter", "house-1", "--generated", "0.01")
    assert result.code == 2
    assert result.err == f"energy-tui: the meter totals would pass {MAX_WATT} kWh\n"
    assert snapshot() == before


# --- one prosumer whatever the case of its address (issue 11) ---------------------------


@pytest.mark.parametrize("other", ["HOUSE-1", "House-1"])
def test_address_differing_only_by_case_is_refused_as_taken_on_every_backend(run, other):
    house(run)
    before = snapshot()
    result = run("prosumer", "add", other, "--name", "Another")
    assert result.code == 2
    assert result.err == (
        f"energy-tui: a prosumer with address {other!r} already exists "
        "(as 'house-1': case does not make an address different)\n"
    )
    assert snapshot() == before


def test_database_itself_refuses_an_address_differing_only_by_case(backend):
    import peewee

    Prosumer.create(address="house-1", name="One")
    with pytest.raises(peewee.IntegrityError), backend.database.atomic():
        Prosumer.create(address="HOUSE-1", name="Two")
    assert Prosumer.select().count() == 1


def test_an_address_typed_in_any_case_reaches_the_stored_prosumer(run):
    house(run, deposit=None)
    assert ok_json(run, "prosumer", "deposit", "HOUSE-1", "5.00")["address"] == "house-1"
    assert ok_json(run, "prosumer", "withdraw", "House-1", "1.00")["watt_total"] == "4.00"
    shown = ok_json(run, "prosumer", "meter", "HoUsE-1", "--generated", "2.5")
    assert shown["energy_generated"] == "2.50"
    assert ok_json(run, "prosumer", "show", "HOUSE-1")["address"] == "house-1"
    assert [r.prosumer_address for r in MeterReading.select()] == ["house-1"]
    for event in ("deposit", "withdrawal", "meter_reading"):
        assert [json.loads(r.event_data)["address"] for r in audit_rows(event)] == ["house-1"]
    assert Prosumer.select().count() == 1


def test_the_readme_prosumer_example_prints_what_the_readme_shows(run) -> None:
    """Each command of README.md's Prosumers example, run on this backend, prints what
    the README shows under it (`>/dev/null` and `--json` lines show nothing)."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("### Prosumers\n\n```console\n", 1)[1].split("```", 1)[0]
    steps = [s.split("\n", 1) for s in block.split("$ energy-tui ")[1:]]
    assert len(steps) >= 7
    for command, *shown in steps:
        quiet = command.endswith((">/dev/null", "--json"))
        result = run(*shlex.split(command.removesuffix(">/dev/null")))
        assert result.code == 0, (command, result.err)
        if not quiet:
            assert result.out == (shown[0] if shown else ""), command
