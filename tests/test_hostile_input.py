"""Hostile input to the date filters and expiries, through each front end (the HTTP API
and the real CLI) on every backend: a clear refusal naming what was typed (API 422 with
the field, CLI exit 2 and one line), never an HTTP 500 or the CLI's "unexpected error".
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest

from energy_tui.services import keys
from tests.api_support import client_for, make_app
from tests.api_support import key as api_key
from tests.api_support import user as api_user
from tests.clock_support import freeze
from tests.key_support import key_file
from tests.market_support import OPERATOR, key_for, snapshot, trader

V1 = "/api/v1"
FRONT_ENDS = ("api", "cli")

# A moment whose UTC is in year 0 or year 10000: converting it raised OverflowError.
BEFORE_YEAR_1 = "0001-01-01T00:00:00+05:00"
AFTER_YEAR_9999 = "9999-12-31T23:59:59-05:00"
OUT_OF_RANGE = "is out of range: in UTC it must fall within 0001-01-01 to 9999-12-31"


@dataclasses.dataclass
class Outcome:
    """What a front end answered: accepted, or refused with `message` naming `field`."""

    accepted: bool
    message: str = ""
    field: str | None = None


@dataclasses.dataclass
class Front:
    """One front end, acting as an admin who trades (alice), with every permission."""

    name: str
    ask: Callable[[str, str, str], Outcome]  # (list, filter, value)
    expire: Callable[[str, str], Outcome]  # (order | key, value)
    number: Callable[[str, str], Outcome]  # (amount | price | deposit, value)


# (list, filter): each list with the filters both front ends give it
FILTERS = [
    ("orders", "since"),
    ("trades", "since"),
    ("trades", "until"),
    ("export", "since"),
    ("export", "until"),
    ("audit", "since"),
]
API_PATHS = {
    "orders": ("/orders", {"status": "all"}),
    "trades": ("/account/trades", {}),
    "export": ("/account/trades.csv", {}),
    "audit": ("/audit", {}),
    "candles": ("/market/candles", {"interval": "86400"}),
}
CLI_COMMANDS = {
    "orders": ("order", "list", "--all"),
    "trades": ("trades", "list", "--mine"),
    "export": ("trades", "export", "--mine", "--csv", "trades.csv", "--overwrite"),
    "audit": ("audit", "list"),
}


@pytest.fixture(scope="module")
def client():
    return client_for(make_app())


def _api_outcome(response, ok: int = 200) -> Outcome:
    if response.status_code == ok:
        return Outcome(True)
    assert response.status_code == 422, response.text  # never a 500
    body = response.json()
    return Outcome(False, body["detail"], body.get("field"))


def _api(client) -> Front:
    api_user("alice", "admin", watt="100")
    headers = api_key("alice", "read,trade,manage")

    def ask(listing: str, name: str, value: str) -> Outcome:
        path, params = API_PATHS[listing]
        return _api_outcome(client.get(V1 + path, params={**params, name: value}, headers=headers))

    def expire(what: str, value: str) -> Outcome:
        if what == "order":
            body = {"side": "buy", "amount": "1", "price": "0.2500", "confirm": True}
            return _api_outcome(
                client.post(f"{V1}/orders", json={**body, "expires": value}, headers=headers),
                201,
            )
        body = {"user": "alice", "name": "bot", "permissions": ["read"], "expires": value}
        return _api_outcome(client.post(f"{V1}/keys", json=body, headers=headers), 201)

    def number(what: str, value: str) -> Outcome:
        if what == "deposit":
            deposit = {"amount": value}
            return _api_outcome(client.post(f"{V1}/prosumers/alice/deposit", json=deposit,
                                            headers=headers))  # fmt: skip
        order = {"side": "buy", "amount": "1", "price": "0.2500", "confirm": True, what: value}
        return _api_outcome(client.post(f"{V1}/orders", json=order, headers=headers), 201)

    return Front("api", ask, expire, number)


def _cli(cli, backend) -> Front:
    trader("alice", watt="100")
    given = key_file(key_for("alice", "read,trade,manage", role="admin"))

    def run(*args: str) -> Outcome:
        result = cli("--db", backend.url, *args, *given)
        if result.code == 0:
            return Outcome(True)
        assert result.code == 2, result  # never 1, "unexpected error"
        assert result.out == "" and result.err.count("\n") == 1, result
        assert result.err.startswith("energy-tui: "), result
        return Outcome(False, result.err.removeprefix("energy-tui: ").strip())

    def ask(listing: str, name: str, value: str) -> Outcome:
        return run(*CLI_COMMANDS[listing], f"--{name}", value)

    def expire(what: str, value: str) -> Outcome:
        if what == "order":
            return run("order", "place", "buy", "1", "0.2500", "--expires", value)
        return run(*("key", "create", "--user", "alice", "--name", "bot"), "--expires", value)

    def number(what: str, value: str) -> Outcome:
        if what == "deposit":
            return run("prosumer", "deposit", "alice", value)
        amount, price = (value, "0.2500") if what == "amount" else ("1", value)
        return run("order", "place", "buy", amount, price)

    return Front("cli", ask, expire, number)


@pytest.fixture(params=FRONT_ENDS)
def front(request, backend, cli, client, monkeypatch) -> Front:
    freeze(monkeypatch)
    return _api(client) if request.param == "api" else _cli(cli, backend)


def refused(outcome: Outcome, front: Front, name: str, value: str, reason: str) -> None:
    """Refused naming the filter (`--since` on the command line) and the value typed."""
    assert not outcome.accepted
    label = f"--{name}" if front.name == "cli" else name
    assert outcome.message.startswith(f"{label} {value!r} {reason}"), outcome.message
    if front.name == "api":
        assert outcome.field == name


# --- fix 1: the ends of the calendar ---------------------------------------------------


@pytest.mark.parametrize(("listing", "name"), FILTERS)
@pytest.mark.parametrize("value", [BEFORE_YEAR_1, AFTER_YEAR_9999])
def test_a_filter_whose_utc_leaves_the_calendar_is_refused_as_out_of_range(
    front, listing, name, value
):
    before = snapshot()
    refused(front.ask(listing, name, value), front, name, value, OUT_OF_RANGE)
    assert snapshot() == before


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("value", [BEFORE_YEAR_1, AFTER_YEAR_9999])
def test_candles_refuse_a_moment_out_of_the_calendar_naming_the_parameter(
    client, backend, value, name
):
    api_user("alice", watt="100")
    outcome = _api_outcome(
        client.get(
            f"{V1}/market/candles",
            params={"interval": "86400", name: value},
            headers=api_key("alice", "read"),
        )
    )
    assert (outcome.message, outcome.field) == (f"{name} {value!r} {OUT_OF_RANGE}", name)


@pytest.mark.parametrize("listing", ["trades", "export"])
def test_until_the_calendars_last_day_on_the_command_line_means_no_end(cli, backend, listing):
    """`--until 9999-12-31` is through that day's end: everything (it was refused as
    "not understood", the day after it being beyond a datetime). The API's `until` is a
    moment, not a day through its end."""
    assert _cli(cli, backend).ask(listing, "until", "9999-12-31").accepted


def test_the_trades_screen_through_the_calendars_last_day_has_no_end():
    from energy_tui.tui.screens.trades import day_end

    assert day_end(dt.date.max) is None
    assert day_end(dt.date(2026, 3, 2)) == dt.datetime(2026, 3, 3)
    assert day_end(None) is None


@pytest.mark.parametrize("what", ["order", "key"])
@pytest.mark.parametrize("value", [BEFORE_YEAR_1, AFTER_YEAR_9999])
def test_an_expiry_whose_utc_leaves_the_calendar_is_refused_as_out_of_range(front, what, value):
    before = snapshot()
    outcome = front.expire(what, value)
    assert not outcome.accepted
    assert outcome.message.startswith(f"expiry {value!r} is out of range"), outcome.message
    if front.name == "api":
        assert outcome.field == "expires"  # the body's name: the order's said "expiry"
    assert snapshot() == before
    assert [k.name for k in keys.list_keys(OPERATOR, "alice") if k.name == "bot"] == []


# --- fix 2: digits other than 0-9 --------------------------------------------------------

# Python's int() and Decimal() read Arabic-Indic and fullwidth digits as numbers, and
# `\d` matches them: `٣h` was taken as 3 hours.
OTHER_DIGITS = ["\u0663h", "\uff13d", "\u0662w", "1\u0660m"]


@pytest.mark.parametrize(("listing", "name"), FILTERS)
@pytest.mark.parametrize("value", OTHER_DIGITS[:2])
def test_a_span_ago_in_digits_other_than_0_9_is_refused(front, listing, name, value):
    reason = "is not understood: type the digits 0-9; give a date like 2026-01-31"
    refused(front.ask(listing, name, value), front, name, value, reason)


@pytest.mark.parametrize("what", ["order", "key"])
@pytest.mark.parametrize("value", OTHER_DIGITS)
def test_an_expiry_in_digits_other_than_0_9_is_refused(front, what, value):
    before = snapshot()
    outcome = front.expire(what, value)
    assert not outcome.accepted
    reason = "is not understood: type the digits 0-9; expected a duration"
    assert outcome.message.startswith(f"expiry {value!r} {reason}"), outcome.message
    assert snapshot() == before


@pytest.mark.parametrize("what", ["amount", "price", "deposit"])
@pytest.mark.parametrize("value", ["\u0663", "\uff10.\uff12\uff15", "1\u0660"])
def test_amounts_and_prices_in_digits_other_than_0_9_are_refused(front, what, value):
    """Already refused before the relative times were (validation.decimal_value): pinned
    here on every front end with them."""
    before = snapshot()
    outcome = front.number(what, value)
    assert not outcome.accepted
    label = "amount" if what == "deposit" else what
    assert outcome.message.endswith(f"{label} {value!r}: type the digits 0-9"), outcome.message
    assert snapshot() == before


def test_a_page_cursor_in_digits_other_than_0_9_is_refused(client, backend):
    api_user("alice", watt="100")
    cursor = base64.urlsafe_b64encode("trade:\u0663".encode()).decode().rstrip("=")
    response = client.get(
        f"{V1}/account/trades", params={"cursor": cursor}, headers=api_key("alice", "read")
    )
    assert _api_outcome(response).field == "cursor"


def test_the_trades_screen_refuses_a_day_in_digits_other_than_0_9():
    from energy_tui.tui.screens.trades import parse_day

    with pytest.raises(ValueError, match=r"^Use YYYY-MM-DD$"):
        parse_day("\u0662\u0660\u0662\u0666-01-31")
