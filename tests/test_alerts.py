"""Price alerts (issue 12) on every backend: add, list, remove, refusals, and firing
exactly once however many terminals check, each of them seeing it."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from peewee import fn

from energy_tui.db.models import EnergyTrade, PriceAlert, PriceAlertWatermark
from energy_tui.errors import NotFound, PermissionDenied, ValidationError
from energy_tui.services import alerts, keys
from energy_tui.services.context import Actor
from tests.clock_support import START
from tests.market_support import audit_events, key_for, place, trader

D = Decimal
BEFORE = START - dt.timedelta(minutes=1)


@pytest.fixture(autouse=True)
def market(backend, now):
    return backend


def user(name: str, permissions: str = "read,trade", role: str = "trader") -> Actor:
    """A user trading for prosumer `name` (2 WATT, 10 kWh), as their key acts."""
    trader(name, watt="50", energy="10")
    return keys.verify(key_for(name, permissions, role))


def trade_at(price: str) -> None:
    """One trade at `price` between two bots of their own."""
    seller, buyer = trader(f"s{price}", energy="5"), trader(f"b{price}", watt="50")
    place(seller, "sell", "1", price)
    place(buyer, "buy", "1", price)


def test_an_alert_above_fires_once_and_both_terminals_of_the_user_see_it():
    alice = user("alice")
    trade_at("0.2000")
    alert = alerts.add(alice, "above", "0.3000")
    assert alerts.check(alice, BEFORE) == []  # 0.20: not yet

    trade_at("0.3100")
    marked = [alerts.fire_due(), alerts.fire_due()]  # two terminals saw the marker move
    first, second = alerts.check(alice, BEFORE), alerts.check(alice, BEFORE)

    assert marked == [1, 0]  # exactly one of them marked it
    assert [a.id for a in first] == [a.id for a in second] == [alert.id]
    assert first[0].fired_price == D("0.3100") and first[0].status == "fired"
    trade_at("0.3200")
    assert alerts.fire_due() == 0  # one-shot
    assert PriceAlert.get_by_id(alert.id).fired_price == D("0.3100")


def test_an_alert_below_fires_when_the_last_price_reaches_its_level_exactly():
    alice = user("alice")
    trade_at("0.2500")
    below = alerts.add(alice, "below", "0.2000")
    above = alerts.add(alice, "above", "0.2600")

    trade_at("0.2001")
    assert alerts.check(alice, BEFORE) == []
    trade_at("0.2000")
    fired = alerts.check(alice, BEFORE)

    assert [a.id for a in fired] == [below.id]
    assert [a.id for a in alerts.list_alerts(alice)] == [above.id]


def test_another_users_terminal_fires_my_alert_and_only_i_am_shown_it():
    alice, bob = user("alice"), user("bob")
    mine = alerts.add(alice, "above", "0.3000")
    trade_at("0.3000")

    assert alerts.check(bob, BEFORE) == []  # bob's terminal fired it, shows nothing
    assert [a.id for a in alerts.fired_since(alice, BEFORE)] == [mine.id]
    assert alerts.fired_since(alice, START + dt.timedelta(seconds=1)) == []


def test_listing_fires_due_alerts_and_shows_fired_ones_only_when_asked():
    alice = user("alice")
    low = alerts.add(alice, "above", "0.2000")
    high = alerts.add(alice, "above", "0.4000")
    trade_at("0.2500")

    assert [a.id for a in alerts.list_alerts(alice)] == [high.id]
    everything = alerts.list_alerts(alice, include_fired=True)
    assert [(a.id, a.status) for a in everything] == [(high.id, "waiting"), (low.id, "fired")]


def test_remove_deletes_ones_own_alert_and_is_audited():
    alice = user("alice")
    alert = alerts.add(alice, "below", "0.1000")

    removed = alerts.remove(alice, str(alert.id))

    assert removed.id == alert.id and alerts.list_alerts(alice, include_fired=True) == []
    added, gone = audit_events("price_alert_added"), audit_events("price_alert_removed")
    assert len(added) == len(gone) == 1 and str(alert.id) in gone[0].event_data


def test_nobody_removes_someone_elses_alert_not_even_an_admin():
    alice, boss = user("alice"), user("boss", "read,trade,manage", role="admin")
    alert = alerts.add(alice, "below", "0.1000")

    with pytest.raises(NotFound, match="you have no alert with id"):
        alerts.remove(boss, alert.id)

    assert PriceAlert.select().count() == 1


def test_a_viewer_sets_alerts_but_a_key_without_read_may_not():
    viewer = user("vera", "read", role="viewer")
    trade_only = user("tom", "trade")

    assert alerts.add(viewer, "above", "1").status == "waiting"
    with pytest.raises(PermissionDenied, match="may not read market with this API key"):
        alerts.add(trade_only, "above", "1")
    assert audit_events("permission_denied")


@pytest.mark.parametrize(
    ("direction", "price", "message"),
    [
        ("up", "0.3", "direction 'up' is not valid: expected above or below"),
        ("above", "0", "price must be more than zero"),
        ("above", "-1", "price must be more than zero"),
        ("below", "0.12345", "price has more than 4 decimals"),
        ("above", "1e3", "is not a number"),
        ("above", "1000000", "price is too large"),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_nothing_is_written(direction, price, message):
    alice = user("alice")

    with pytest.raises(ValidationError, match=message):
        alerts.add(alice, direction, price)

    assert PriceAlert.select().count() == 0 and audit_events("price_alert_added") == []


def test_an_alert_the_last_price_has_already_reached_is_refused():
    alice = user("alice")
    trade_at("0.2500")

    with pytest.raises(ValidationError, match=r"0\.2500 is already at or above 0\.2500"):
        alerts.add(alice, "above", "0.25")
    with pytest.raises(ValidationError, match=r"already at or below 0\.3000"):
        alerts.add(alice, "below", "0.3")
    assert PriceAlert.select().count() == 0


def test_the_number_of_waiting_alerts_per_user_is_capped(monkeypatch):
    monkeypatch.setattr(alerts, "MAX_WAITING", 2)
    alice, bob = user("alice"), user("bob")
    alerts.add(alice, "above", "1")
    alerts.add(alice, "above", "2")

    with pytest.raises(ValidationError, match="2 alerts waiting, the most allowed"):
        alerts.add(alice, "above", "3")
    assert alerts.add(bob, "above", "3").status == "waiting"  # per user


def test_the_local_operator_without_a_user_has_no_alerts():
    with pytest.raises(ValidationError, match="alerts belong to a user"):
        alerts.add(Actor.local_operator(), "above", "1")


def test_bad_alert_ids_are_refused():
    alice = user("alice")
    with pytest.raises(ValidationError, match="is not an alert id"):
        alerts.remove(alice, "nope")


def test_terminals_checking_at_the_same_moment_mark_each_alert_once(market):
    """Three threads, each with its own connection (the test pool holds four), fire at
    once: every alert is marked by exactly one of them (on SQLite they queue for the
    write lock)."""
    import threading

    from energy_tui.db.models import db

    alice = user("alice")
    made = [alerts.add(alice, "above", f"0.{n:02d}") for n in range(10, 30)]
    trade_at("0.5000")
    counts: list[int] = []
    start = threading.Barrier(3, timeout=30)

    def terminal() -> None:
        with db.connection_context():
            start.wait()
            counts.append(alerts.fire_due())

    threads = [threading.Thread(target=terminal) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == len(made) and len(counts) == 3
    assert len(alerts.fired_since(alice, BEFORE)) == len(made)


def test_a_check_with_nothing_due_does_not_wait_for_the_write_lock(market, tmp_path):
    """Every terminal checks on every market change: when nothing is due that is a read,
    so on SQLite it never queues behind a writer (the matcher holds the one write lock)."""
    if market.name != "sqlite":
        pytest.skip("SQLite's single write lock")
    import sqlite3
    import time

    alice = user("alice")
    trade_at("0.2000")
    alerts.add(alice, "above", "0.5000")
    writer = sqlite3.connect(market.url.removeprefix("sqlite://"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert alerts.fire_due() == 0
        assert time.monotonic() - started < 2
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# --- crossings between checks: any trade after the alert was set counts ---------------


def test_a_spike_between_two_checks_fires_with_the_price_of_the_trade_that_crossed():
    """0.25 -> 0.31 -> 0.35 -> 0.28 with no check in between (one poll interval, or no
    terminal of anyone open): the price crossed 0.30, so the alert fires, at 0.31."""
    alice = user("alice")
    trade_at("0.2500")
    above = alerts.add(alice, "above", "0.3000")
    below = alerts.add(alice, "below", "0.2000")
    assert alerts.check(alice, BEFORE) == []

    for price in ("0.3100", "0.3500", "0.2800", "0.1900", "0.2400"):
        trade_at(price)
    fired = alerts.check(alice, BEFORE)

    assert {(a.id, a.fired_price) for a in fired} == {
        (above.id, D("0.3100")),
        (below.id, D("0.1900")),
    }
    assert alerts.fire_due() == 0 and alerts.list_alerts(alice) == []


def test_a_cli_only_user_sees_a_spike_that_no_terminal_checked():
    alice = user("alice")
    trade_at("0.2500")
    alert = alerts.add(alice, "above", "0.3000")
    trade_at("0.3000")
    trade_at("0.2900")

    listed = alerts.list_alerts(alice, include_fired=True)  # what `alert list` runs

    assert [(a.id, a.status, a.fired_price) for a in listed] == [(alert.id, "fired", D("0.3"))]


def test_an_alert_set_after_a_spike_does_not_fire_on_it_only_on_a_later_crossing():
    alice = user("alice")
    trade_at("0.2500")
    early = alerts.add(alice, "above", "0.3000")
    trade_at("0.3100")  # nobody checks: the spike is still unchecked when `late` is set
    trade_at("0.2600")
    late = alerts.add(alice, "above", "0.3000")
    trade_at("0.2700")

    assert [(a.id, a.fired_price) for a in alerts.check(alice, BEFORE)] == [(early.id, D("0.3100"))]
    trade_at("0.3200")
    trade_at("0.2550")
    assert alerts.fire_due() == 1
    fired = alerts.fired_since(alice, BEFORE)
    assert {(a.id, a.fired_price) for a in fired} == {
        (early.id, D("0.3100")),
        (late.id, D("0.3200")),
    }


def test_one_check_fires_many_alerts_each_at_its_own_first_crossing():
    alice, bob = user("alice"), user("bob")
    trade_at("0.2500")
    made = {}
    for n in range(30, 40):  # above 0.30 .. 0.39, half alice's, half bob's
        owner = alice if n % 2 else bob
        made[alerts.add(owner, "above", f"0.{n}").id] = n
    for price in ("0.3300", "0.2900", "0.3600", "0.3100", "0.4000", "0.2000"):
        trade_at(price)

    assert alerts.fire_due() == 10

    def first(n: int) -> Decimal:  # the first trade at or above 0.n
        return D("0.33") if n <= 33 else D("0.36") if n <= 36 else D("0.40")

    rows = PriceAlert.select().where(PriceAlert.id.in_(list(made)))
    assert {row.id: row.fired_price for row in rows} == {i: first(n) for i, n in made.items()}


def test_two_checkers_at_once_fire_a_spike_once(market):
    """Two terminals check at the same moment after a spike that only one trade made:
    each alert is marked by exactly one of them, at the crossing trade's price."""
    import threading

    from energy_tui.db.models import db

    alice = user("alice")
    trade_at("0.2500")
    made = [alerts.add(alice, "above", f"0.{n}") for n in range(26, 46)]
    trade_at("0.4500")
    late = alerts.add(alice, "above", "0.4600")  # after the spike, inside the unchecked range
    trade_at("0.2000")
    counts: list[int] = []
    start = threading.Barrier(2, timeout=30)

    def terminal() -> None:
        with db.connection_context():
            start.wait()
            counts.append(alerts.fire_due())

    threads = [threading.Thread(target=terminal) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == len(made) and len(counts) == 2
    fired = alerts.fired_since(alice, BEFORE)
    assert {a.id for a in fired} == {a.id for a in made}
    assert {a.fired_price for a in fired} == {D("0.4500")}
    assert PriceAlert.get_by_id(late.id).fired_at is None


def checked_seq() -> int:
    return PriceAlertWatermark.get_by_id(1).checked_seq


def newest_seq() -> int:
    return EnergyTrade.select(fn.MAX(EnergyTrade.seq)).scalar()


def test_a_check_that_fires_moves_the_watermark_one_that_finds_nothing_is_a_read():
    alice = user("alice")
    trade_at("0.2500")
    alerts.add(alice, "above", "0.3000")
    alerts.add(alice, "above", "0.9000")
    trade_at("0.2600")
    before = checked_seq()

    assert alerts.fire_due() == 0 and checked_seq() == before  # nothing due: not written
    trade_at("0.3000")
    assert alerts.fire_due() == 1 and checked_seq() == newest_seq()


def test_a_long_stretch_with_nothing_due_is_claimed_so_checks_stay_short(monkeypatch):
    monkeypatch.setattr(alerts, "WATERMARK_LAG", 2)
    alice = user("alice")
    trade_at("0.2500")
    alerts.add(alice, "above", "0.9000")
    trade_at("0.2600")
    trade_at("0.2700")
    assert alerts.fire_due() == 0 and checked_seq() < newest_seq()  # 2 trades: a read

    trade_at("0.2800")
    assert alerts.fire_due() == 0 and checked_seq() == newest_seq()


def test_adding_an_alert_waits_while_a_check_holds_the_watermark(market):
    """A check claims trades up to seq N and marks in one transaction; an alert added
    meanwhile must not land inside that range unseen: `add` waits for the claim, then
    starts after N."""
    if market.name == "sqlite":
        pytest.skip("SQLite serializes every writer already")
    import threading

    from energy_tui.db.models import db

    alice = user("alice")
    trade_at("0.2500")
    claimed, release = threading.Event(), threading.Event()

    def checker() -> None:
        with db.connection_context(), db.atomic():
            PriceAlertWatermark.update(checked_seq=newest_seq()).execute()
            claimed.set()
            release.wait(30)

    made: list[alerts.AlertView] = []

    def adder() -> None:
        with db.connection_context():
            claimed.wait(30)
            made.append(alerts.add(alice, "above", "0.3000"))

    threads = [threading.Thread(target=checker), threading.Thread(target=adder)]
    for thread in threads:
        thread.start()
    claimed.wait(30)
    threads[1].join(0.5)
    waited = threads[1].is_alive()
    release.set()
    for thread in threads:
        thread.join(30)

    assert waited and len(made) == 1
    assert PriceAlert.get_by_id(made[0].id).after_seq == newest_seq() == checked_seq()


def test_alerts_added_while_trading_and_checking_fire_exactly_on_their_crossings(market):
    """Trades, alerts being added and a terminal checking, all at once (three
    connections): afterwards each alert has fired if and only if a trade after it was set
    reached its level, at the first such trade's price."""
    import random
    import threading

    from energy_tui.db.models import db

    alice = user("alice")
    seller, buyer = trader("seller", energy="100"), trader("buyer", watt="1000")
    rng = random.Random(12)
    prices = [f"0.{rng.randint(2800, 3200)}" for _ in range(25)]
    place(seller, "sell", "1", "0.3000")
    place(buyer, "buy", "1", "0.3000")
    done = threading.Event()
    errors: list[BaseException] = []

    def guarded(body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                with db.connection_context():
                    body()
            except BaseException as error:  # reported by the test
                errors.append(error)
                done.set()

        return run

    def trading() -> None:
        for price in prices:
            place(seller, "sell", "1", price)
            place(buyer, "buy", "1", price)
        done.set()

    def adding() -> None:
        for _ in range(30):
            direction = rng.choice(("above", "below"))
            with contextlib.suppress(ValidationError):  # the last price had reached it
                alerts.add(alice, direction, f"0.{rng.randint(2750, 3250)}")

    def checking() -> None:
        while not done.is_set():
            alerts.fire_due()

    threads = [threading.Thread(target=guarded(f)) for f in (trading, adding, checking)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    alerts.fire_due()

    tape = list(EnergyTrade.select(EnergyTrade.seq, EnergyTrade.price_per_kwh).tuples())
    rows = list(PriceAlert.select())
    assert len(rows) >= 5
    for row in rows:
        crossings = sorted(
            (seq, price)
            for seq, price in tape
            if seq > row.after_seq
            and (price >= row.price if row.direction == "above" else price <= row.price)
        )
        expected = crossings[0][1] if crossings else None
        assert (row.fired_at is not None, row.fired_price) == (bool(crossings), expected), row
