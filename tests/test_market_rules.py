"""The market rules are the database's (issue 11, DESIGN §3 "Market rules"): seeded once
from the settings, then changed only by an admin with `market rules set`; a client's
environment never changes how a trade settles. On every backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import peewee
import pytest
from playhouse.migrate import SchemaMigrator, migrate

from energy_tui.db import migrations
from energy_tui.db.connect import backend_of
from energy_tui.db.models import EnergyOrder, EnergyTrade, MarketState, Prosumer, db
from energy_tui.errors import ValidationError
from energy_tui.services import audit
from energy_tui.services.market import book as market_book
from energy_tui.services.market import invariants
from energy_tui.services.market import rules as market_rules
from tests import backends
from tests.key_support import key_file
from tests.market_support import OPERATOR, balances, key_for, place, snapshot, trader
from tests.test_migrations import fresh_database

D = Decimal
RULE_COLUMNS = (
    "grid_fee_rate",
    "grid_operator_address",
    "order_ttl_hours",
    "min_order_value",
    "price_band_percent",
    "grid_import_price",
    "rules_from_trade_seq",
)
DEFAULTS = {
    "GRID_FEE_RATE": "0.0500",
    "GRID_OPERATOR_ADDRESS": "grid-operator",
    "ORDER_TTL_HOURS": 24,
    "MIN_ORDER_VALUE": "0.01",
    "PRICE_BAND_PERCENT": "20.00",
    "GRID_IMPORT_PRICE": "0.2500",
}


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from fresh_database(request.param, tmp_path)


@pytest.fixture
def run(cli, backend):
    return lambda *args: cli("--db", backend.url, *args)


def ok_json(result) -> dict:
    assert result.code == 0, result
    return json.loads(result.out)


def rules_shown(run) -> dict:
    return ok_json(run("market", "rules", "--json"))


# --- seeded once, then the environment changes nothing ----------------------------------


def cli_traders(run) -> tuple[str, str]:
    """alice-house (100 WATT) and bob-solar (50 kWh), each with a read+trade key."""
    for args in (
        ("prosumer", "add", "alice-house", "--name", "Alice House"),
        ("prosumer", "add", "bob-solar", "--name", "Bob Solar"),
        ("prosumer", "deposit", "alice-house", "100"),
        ("prosumer", "meter", "bob-solar", "--generated", "50"),
    ):
        assert run(*args).code == 0
    keys = []
    for name, address in (("alice", "alice-house"), ("bob", "bob-solar")):
        user = ("user", "add", name, "--email", f"{name}@example.org", "--prosumer", address)
        assert run(*user, "--password-stdin", stdin="a long enough password\n").code == 0
        made = run(
            "key", "create", "--user", name, "--name", "desk", "--perm", "read,trade", "--json"
        )
        keys.append(ok_json(made)["key"])
    return keys[0], keys[1]


def test_first_migrate_seeds_the_rules_and_a_clients_environment_no_longer_changes_settlement(
    cli, fresh_url, monkeypatch, now
):
    def run(*args: str, stdin: str | None = None):
        return cli("--db", fresh_url, *args, stdin=stdin)

    monkeypatch.setenv("GRID_FEE_RATE", "0.03")
    monkeypatch.setenv("ORDER_TTL_HOURS", "2")
    migrated = run("db", "migrate", "--json")
    assert "0005_market_rules" in ok_json(migrated)["applied"]
    assert migrated.err == ""  # seeding from the settings is what they are for
    for name in ("GRID_FEE_RATE", "ORDER_TTL_HOURS"):
        monkeypatch.delenv(name)
    shown = ok_json(run("market", "rules", "--json"))
    assert (shown["GRID_FEE_RATE"], shown["ORDER_TTL_HOURS"]) == ("0.0300", 2)
    alice, bob = cli_traders(run)

    # A client that would settle for free, pay the fee to itself, and keep orders forever.
    monkeypatch.setenv("GRID_FEE_RATE", "0")
    monkeypatch.setenv("GRID_OPERATOR_ADDRESS", "alice-house")
    monkeypatch.setenv("ORDER_TTL_HOURS", "0")
    sell = run("order", "place", "sell", "10", "0.1200", *key_file(bob), "--json", "--yes")
    buy = run("order", "place", "buy", "4", "0.1500", *key_file(alice), "--json", "--yes")

    assert ok_json(sell)["order"]["expires_at"] == "2026-03-02 14:00:00"  # the database's 2h
    (fill,) = ok_json(buy)["fills"]
    # 4 x 0.12 = 0.48; the database's 3% is 0.0144, rounded up: 0.02, to the grid operator
    assert (fill["total"], fill["fee"], fill["buyer_total"]) == ("0.48", "0.02", "0.50")
    assert ok_json(run("prosumer", "show", "alice-house", "--json"))["watt_total"] == "99.50"
    assert ok_json(run("prosumer", "show", "grid-operator", "--json"))["watt_total"] == "0.02"
    for result in (sell, buy):  # one line, once per command, naming what is ignored
        assert result.err.count("\n") == 1
        assert "GRID_FEE_RATE, GRID_OPERATOR_ADDRESS, ORDER_TTL_HOURS" in result.err
        assert "the database's market rules are used" in result.err
    assert ok_json(run("market", "check", "--json"))["ok"] is True


def test_the_first_command_on_a_new_sqlite_file_seeds_its_rules_from_the_settings(
    cli, tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path}/auto.db"
    monkeypatch.setenv("GRID_FEE_RATE", "0.02")
    first = cli("--db", url, "market", "rules", "--json")
    assert (ok_json(first)["GRID_FEE_RATE"], first.err) == ("0.0200", "")

    monkeypatch.setenv("GRID_FEE_RATE", "0.04")
    second = cli("--db", url, "market", "rules", "--json")
    assert ok_json(second)["GRID_FEE_RATE"] == "0.0200"
    assert second.err.startswith("energy-tui: note: the database's market rules are used")
    assert "GRID_FEE_RATE (from environment)" in second.err


# --- showing and changing them ---------------------------------------------------------


def test_market_rules_json_names_every_rule_with_its_exact_value(run):
    assert rules_shown(run) == DEFAULTS
    text = run("market", "rules")
    assert text.code == 0
    assert text.out.splitlines()[0].split() == ["NAME", "VALUE", "MEANING"]
    assert "GRID_FEE_RATE          0.0500" in text.out


def test_rules_set_applies_to_the_next_placement_and_is_audited_with_old_and_new(run, backend):
    seller, buyer = trader("seller", energy="50"), trader("buyer", watt="100")
    place(seller, "sell", "10", "0.1200")
    version = market_book.version()

    changed = run("market", "rules", "set", "grid_fee_rate", "0.10", "--json")

    assert ok_json(changed) == {"name": "GRID_FEE_RATE", "old": "0.0500", "new": "0.1000"}
    assert market_book.version() == version + 1  # every client's change marker moves
    fill = place(buyer, "buy", "4", "0.1500").fills[0]
    assert (fill.total, fill.fee, fill.buyer_total) == (D("0.48"), D("0.05"), D("0.53"))
    (entry,) = audit.entries(event_type="market_rule_changed")
    assert entry.data == {"rule": "GRID_FEE_RATE", "old": "0.0500", "new": "0.1000"} | {
        "after_trade_seq": 0
    }
    assert entry.actor.startswith("os:")
    text = run("market", "rules", "set", "GRID_OPERATOR_ADDRESS", "grid-north")
    assert (
        text.out == "GRID_OPERATOR_ADDRESS: grid-operator -> grid-north (from the next order on)\n"
    )
    place(seller, "sell", "1", "0.1000")
    place(buyer, "buy", "1", "0.1000")
    assert balances("grid-north").watt_total == D("0.01")
    assert invariants.check() == []


def test_market_check_holds_each_trade_to_the_fee_rate_in_force_when_it_settled(run, backend):
    seller, buyer = trader("seller", energy="50"), trader("buyer", watt="100")
    place(seller, "sell", "10", "0.1000")
    place(buyer, "buy", "5", "0.1000")  # fee 0.025 -> 0.03 at 5%
    market_rules.set_rule(OPERATOR, "GRID_FEE_RATE", "0.10")
    place(buyer, "buy", "5", "0.1000")  # fee 0.05 at 10%
    assert invariants.check() == []

    # the cent a half-even fee would have let a 0.02 WATT trade keep
    place(seller, "sell", "0.11", "0.1660")
    place(buyer, "buy", "0.11", "0.1660")
    dodged = EnergyTrade.get(EnergyTrade.seq == 3)
    assert (dodged.total_price, dodged.fee) == (D("0.02"), D("0.01"))
    EnergyTrade.update(fee=D("0.00"), buyer_total=D("0.02")).where(
        EnergyTrade.id == dodged.id
    ).execute()

    result = run("market", "check")
    assert result.code == 1
    assert f"4: trade {dodged.id} fee 0.00 != 0.01 (0.1000 of 0.02" in result.out


def test_rules_set_refuses_who_is_not_an_admin_with_exit_3_and_writes_nothing(run, backend):
    trader("alice", watt="10")
    trader_key = key_for("alice")
    trader("olga")
    operator_key = key_for("olga", "read,manage", role="operator")
    before, version = snapshot(), market_book.version()

    for key in (trader_key, operator_key):
        result = run("market", "rules", "set", "GRID_FEE_RATE", "0", *key_file(key))
        assert result.code == 3
        assert result.err.count("\n") == 1
        assert "may not change the market rules" in result.err

    assert market_rules.current().fee_rate == D("0.0500")
    assert market_book.version() == version
    denied = audit.entries(event_type="permission_denied")
    assert len(denied) == 2
    after = snapshot()
    assert (after.orders, after.trades, after.balances) == (
        before.orders,
        before.trades,
        before.balances,
    )


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("GRID_FEE_RATE", "1", "GRID_FEE_RATE is too large"),
        ("GRID_FEE_RATE", "-0.01", "GRID_FEE_RATE must be zero or more"),
        ("GRID_FEE_RATE", "0.00001", "GRID_FEE_RATE has more than 4 decimals"),
        ("GRID_FEE_RATE", "NaN", "GRID_FEE_RATE 'NaN' is not a number like 0.25"),
        ("ORDER_TTL_HOURS", "1.5", "expected a whole number from 0 to 87600"),
        ("ORDER_TTL_HOURS", "87601", "expected a whole number from 0 to 87600"),
        ("ORDER_TTL_HOURS", "²", "expected a whole number from 0 to 87600"),
        ("MIN_ORDER_VALUE", "0", "MIN_ORDER_VALUE must be more than zero"),
        ("MIN_ORDER_VALUE", "0.005", "MIN_ORDER_VALUE has more than 2 decimals"),
        ("PRICE_BAND_PERCENT", "0", "PRICE_BAND_PERCENT must be more than zero"),
        ("GRID_IMPORT_PRICE", "abc", "GRID_IMPORT_PRICE 'abc' is not a number"),
        ("GRID_OPERATOR_ADDRESS", "two words", "address must be 1-100 characters"),
        ("GRID_OPERATOR_ADDRESS", "alice", "alice is a residential prosumer"),
        ("GRID_OPERATOR_ADDRESS", "ALICE", "ALICE is a residential prosumer"),
        ("FEE", "0.01", "unknown market rule 'FEE': expected one of GRID_FEE_RATE"),
    ],
)
def test_rules_set_refuses_a_bad_value_in_one_line_with_exit_2_and_writes_nothing(
    run, backend, name, value, reason
):
    trader("alice", watt="10")
    before, version = snapshot(), market_book.version()

    result = run("market", "rules", "set", name, value)

    assert result.code == 2, result
    assert result.err.count("\n") == 1
    assert reason in result.err
    assert "Traceback" not in result.err
    assert (snapshot(), market_book.version()) == (before, version)
    assert rules_shown(run) == DEFAULTS


def test_the_minimum_order_value_is_the_databases_at_each_placement(backend):
    buyer = trader("buyer", watt="10")
    market_rules.set_rule(OPERATOR, "MIN_ORDER_VALUE", "0.05")
    with pytest.raises(ValidationError, match=r"less than 0\.05 WATT, the market's minimum"):
        place(buyer, "buy", "0.10", "0.2500")  # worth 0.025
    assert EnergyOrder.select().count() == 0
    market_rules.set_rule(OPERATOR, "MIN_ORDER_VALUE", "0.02")
    assert place(buyer, "buy", "0.10", "0.2500").order.status == "open"


# --- migration 0005 on a database at version 4 -------------------------------------------


def legacy_trade() -> None:
    """A 0.02 WATT trade settled as before the rules were the database's: half-even fee
    0.00 (the columns it needs are back for a moment, as the placement reads them)."""
    seller, buyer = trader("seller", energy="5"), trader("buyer", watt="5")
    place(seller, "sell", "0.11", "0.1660")
    place(buyer, "buy", "0.11", "0.1660")
    EnergyTrade.update(fee=D("0.00"), buyer_total=D("0.02")).execute()
    Prosumer.update(watt_tokens=Prosumer.watt_tokens + D("0.01")).where(
        Prosumer.address == "buyer"
    ).execute()
    Prosumer.update(watt_tokens=Prosumer.watt_tokens - D("0.01")).where(
        Prosumer.address == "grid-operator"
    ).execute()


def test_migration_0005_adds_and_seeds_the_rules_on_a_version_4_database(
    cli, fresh_url, monkeypatch
):
    database = backends.bind(fresh_url)
    try:
        with database.connection_context():
            migrations.migrate(database)  # the whole schema, to trade once the old way
            legacy_trade()
            database.execute_sql("DELETE FROM schema_version WHERE version IN (5, 16, 24)")
            # nor 0016's and 0024's triggers, which name market_state (SQLite rebuilds
            # that table to drop its columns, and checks the triggers that name it)
            postgres = backend_of(database) == "postgres"
            for trigger, table in (
                ("energy_orders_seq", "orders"),
                ("energy_trades_seq", "trades"),
            ):
                database.execute_sql(
                    f"DROP TRIGGER {trigger}{f' ON energy_{table}' if postgres else ''}"
                )
            migrator = SchemaMigrator.from_database(database)
            migrate(*(migrator.drop_column("market_state", column) for column in RULE_COLUMNS))
            assert [step.version for step in migrations.status(database).pending] == [5, 16, 24]
            present = {c.name for c in database.get_columns("market_state")}
            assert not present & set(RULE_COLUMNS)
    finally:
        close(database)

    monkeypatch.setenv("GRID_FEE_RATE", "0.04")
    monkeypatch.setenv("GRID_OPERATOR_ADDRESS", "grid-east")
    monkeypatch.setenv("PRICE_BAND_PERCENT", "12.5")
    applied = cli("db", "migrate", "--db", fresh_url, "--json")
    assert ok_json(applied)["applied"] == [
        "0005_market_rules",
        "0016_platform_defaults",
        "0024_platform_trade_seq",
    ]
    for name in ("GRID_FEE_RATE", "GRID_OPERATOR_ADDRESS", "PRICE_BAND_PERCENT"):
        monkeypatch.delenv(name)
    shown = ok_json(cli("market", "rules", "--db", fresh_url, "--json"))
    assert shown == DEFAULTS | {
        "GRID_FEE_RATE": "0.0400",
        "GRID_OPERATOR_ADDRESS": "grid-east",
        "PRICE_BAND_PERCENT": "12.50",
    }

    database = backends.bind(fresh_url)
    try:
        with database.connection_context():
            state = MarketState.get_by_id(1)
            assert (state.trade_seq, state.rules_from_trade_seq) == (1, 1)
            assert invariants.check() == []  # the old trade is not held to the new rules
            seller, buyer = trader("seller2", energy="5"), trader("buyer2", watt="5")
            place(seller, "sell", "0.11", "0.1660")
            fill = place(buyer, "buy", "0.11", "0.1660").fills[0]
            assert (fill.total, fill.fee) == (D("0.02"), D("0.01"))  # 4% of 0.02, rounded up
            assert balances("grid-east").watt_total == D("0.01")
            assert invariants.check() == []
    finally:
        close(database)
        db.initialize(None)


def close(database: peewee.Database) -> None:
    database.close()
    close_all = getattr(database, "close_all", None)
    if close_all is not None:
        close_all()


def test_a_rule_set_in_dotenv_or_the_config_file_gets_the_one_line_notice_too(run, tmp_path):
    Path(".env").write_text("GRID_FEE_RATE=0\n", encoding="utf-8")  # the test's own cwd
    config = tmp_path / "home" / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('grid_import_price = "0.3000"\n', encoding="utf-8")

    result = run("market", "rules", "--json")

    assert ok_json(result) == DEFAULTS
    assert result.err.count("\n") == 1
    assert "not GRID_FEE_RATE, GRID_IMPORT_PRICE (from " in result.err
    assert str(Path(".env").absolute()) in result.err and str(config) in result.err
