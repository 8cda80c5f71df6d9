"""A hostile or careless client of the HTTP API, on every backend: numbers at the edge
of what the columns hold, ambiguous bodies, credentials that stop while a response is
still running. Each answer is a problem naming the field, never a 500, and nothing is
written."""

from __future__ import annotations

import base64

import pytest

from tests.api_support import client_for, key, make_app, problem, user

V1 = "/api/v1"


@pytest.fixture(scope="module")
def client():
    return client_for(make_app())


@pytest.fixture
def root(backend):
    """An admin (who reaches every list) with a key of every permission an admin holds."""
    user("root", role="admin", watt="100", energy="10")
    return key("root", "read,trade,manage")


def cursor(kind: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


LISTS = [
    ("/orders", "order"),
    ("/account/trades", "trade"),
    ("/market/trades", "trade"),
    ("/account/meter-readings", "reading"),
    ("/audit", "audit"),
    ("/keys", "key"),
    ("/users", "user"),
    ("/prosumers", "prosumer"),
]


@pytest.mark.parametrize(("path", "kind"), LISTS)
def test_a_cursor_past_a_64_bit_integer_is_refused_not_a_500(client, root, path, kind):
    for position in (2**63, 9_999_999_999_999_999_999):
        response = client.get(V1 + path, params={"cursor": cursor(kind, position)}, headers=root)
        problem(response, 422, "cursor", field="cursor")
    # the largest position a cursor may name still pages (past the end: nothing)
    far = client.get(V1 + path, params={"cursor": cursor(kind, 10**18 - 1)}, headers=root)
    assert far.status_code == 200, far.text
    assert far.json()["next_cursor"] is None


def test_cancel_all_up_to_a_placed_seq_past_a_64_bit_integer_is_refused(client, root):
    placed = client.post(
        f"{V1}/orders",
        json={"side": "buy", "amount": "1", "price": "0.25", "confirm": True},
        headers=root,
    )
    assert placed.status_code == 201, placed.text
    for seq in (2**63, 10**30):
        response = client.delete(f"{V1}/orders", params={"up_to_placed_seq": seq}, headers=root)
        problem(response, 422, field="up_to_placed_seq")
    assert client.get(f"{V1}/orders", headers=root).json()["items"][0]["status"] == "open"
    done = client.delete(f"{V1}/orders", params={"up_to_placed_seq": 2**63 - 1}, headers=root)
    assert (done.status_code, done.json()["cancelled"]) == (200, 1), done.text


def test_a_body_naming_a_field_twice_is_refused_and_writes_nothing(client, root):
    # json.loads keeps the last: this placed 1000 kWh where the first amount said 1
    body = '{"side": "buy", "amount": "1", "price": "0.25", "confirm": true, "amount": "1000"}'
    json_headers = {**root, "Content-Type": "application/json"}
    response = client.post(f"{V1}/orders", content=body, headers=json_headers)
    problem(response, 422, "'amount' twice", field="amount")
    assert client.get(f"{V1}/orders", params={"status": "all"}, headers=root).json()["items"] == []
    # inside a batch of readings, and on a login, too
    readings = client.get(f"{V1}/account/meter-readings", headers=root).json()["items"]
    batch = '{"readings": [{"generated": "1", "generated": "900"}]}'
    response = client.post(
        f"{V1}/prosumers/root/meter-readings", content=batch, headers=json_headers
    )
    problem(response, 422, "'generated' twice", field="generated")
    assert client.get(f"{V1}/account/meter-readings", headers=root).json()["items"] == readings
    login = '{"username": "root", "password": "x", "username": "other"}'
    response = client.post(
        f"{V1}/auth/login", content=login, headers={"Content-Type": "application/json"}
    )
    problem(response, 422, "'username' twice", field="username")
    # one of each still places
    once = '{"side": "buy", "amount": "1", "price": "0.25", "confirm": true}'
    assert client.post(f"{V1}/orders", content=once, headers=json_headers).status_code == 201


@pytest.mark.parametrize("number", [0.1 + 0.2, 5, 2.5, 1e3])
def test_a_json_number_for_an_amount_or_price_is_refused_saying_to_quote_it(client, root, number):
    for field in ("amount", "price"):
        body = {"side": "buy", "amount": "1", "price": "0.25", "confirm": True, field: number}
        response = client.post(f"{V1}/orders", json=body, headers=root)
        problem(response, 422, "send the value as a string, in quotes", field=field)
    response = client.patch(f"{V1}/orders/{'0' * 32}", json={"price": number}, headers=root)
    problem(response, 422, "in quotes", field="price")
    response = client.post(f"{V1}/account/meter-readings", json={"generated": number}, headers=root)
    problem(response, 422, "in quotes", field="generated")
    assert client.get(f"{V1}/orders", params={"status": "all"}, headers=root).json()["items"] == []
    # a boolean is not a number: Pydantic's own words
    response = client.post(
        f"{V1}/orders", json={"side": "buy", "amount": True, "price": "1"}, headers=root
    )
    problem(response, 422, "valid string", field="amount")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
        (b'{"side": "buy", "amount": ' + b"9" * 5000 + b"}", "too many digits"),
        (b'{"side": "buy", "amount": "\xff"}', "not UTF-8"),
    ],
)
def test_a_body_json_cannot_read_says_why_not_a_bare_400(client, root, body, reason):
    headers = {**root, "Content-Type": "application/json"}
    response = client.post(f"{V1}/orders", content=body, headers=headers)
    problem(response, 422, "the request body is not valid JSON", reason)


def test_a_query_parameter_misspelt_or_given_twice_is_refused_and_cancels_nothing(client, root):
    for side, price in (("buy", "0.25"), ("sell", "0.90")):
        body = {"side": side, "amount": "1", "price": price, "confirm": True}
        assert client.post(f"{V1}/orders", json=body, headers=root).status_code == 201
    # a typo of `side` was ignored: every open order was cancelled, the sells too
    typo = client.delete(f"{V1}/orders", params={"sdie": "buy"}, headers=root)
    problem(typo, 422, "unknown query parameter 'sdie'", "side, up_to_placed_seq", field="sdie")
    # one name twice: the last was used
    twice = client.delete(f"{V1}/orders?side=buy&side=sell", headers=root)
    problem(twice, 422, "'side' is given more than once", field="side")
    listed = client.get(f"{V1}/orders", headers=root).json()["items"]
    assert sorted(o["status"] for o in listed) == ["open", "open"]
    problem(client.get(f"{V1}/orders?stauts=all", headers=root), 422, "'stauts'", field="stauts")
    problem(client.get(f"{V1}/account/balances?x=1", headers=root), 422, "takes none", field="x")
    # the parameters an endpoint takes still work
    done = client.delete(f"{V1}/orders", params={"side": "buy"}, headers=root)
    assert (done.status_code, done.json()["cancelled"]) == (200, 1), done.text


# what Pydantic's lax mode reads as a whole number although it is not written as one
ARABIC_INDIC_10, FULL_WIDTH_10 = "\u0661\u0660", "\uff11\uff10"
NOT_DIGITS = ["1_0", "1_000", " 10", "10 ", "10\n", "+10", "10.0", ARABIC_INDIC_10, FULL_WIDTH_10]
WHOLE_NUMBER_PARAMETERS = [
    ("/orders", "limit"),
    ("/keys", "limit"),
    ("/market/book", "depth"),
    ("/market/trades", "limit"),
    ("/market/stats", "days"),
    ("/account/meter-readings", "limit"),
    ("/stream", "max_events"),
]


@pytest.mark.parametrize(("path", "name"), WHOLE_NUMBER_PARAMETERS)
def test_a_whole_number_not_written_in_digits_is_refused_naming_it(client, root, path, name):
    for value in NOT_DIGITS:
        response = client.get(V1 + path, params={name: value}, headers=root)
        problem(response, 422, f"query parameter {name!r} takes a whole number", field=name)
    if path != "/stream":  # the same value in digits is taken
        assert client.get(V1 + path, params={name: "10"}, headers=root).status_code == 200
    # a minus sign is read, for the range to refuse it
    problem(client.get(V1 + path, params={name: "-1"}, headers=root), 422, field=name)


def test_cancel_all_up_to_a_placed_seq_with_underscores_cancels_nothing(client, root):
    for _ in range(2):
        body = {"side": "buy", "amount": "1", "price": "0.25", "confirm": True}
        assert client.post(f"{V1}/orders", json=body, headers=root).status_code == 201
    listed = client.get(f"{V1}/orders", headers=root).json()["items"]
    last = max(order["placed_seq"] for order in listed)
    spaced = f"{last}_0"  # int() reads it as last * 10: both orders were cancelled
    response = client.delete(f"{V1}/orders", params={"up_to_placed_seq": spaced}, headers=root)
    problem(response, 422, "'up_to_placed_seq'", "digits 0-9", field="up_to_placed_seq")
    still = client.get(f"{V1}/orders", headers=root).json()["items"]
    assert sorted(o["status"] for o in still) == ["open", "open"]
