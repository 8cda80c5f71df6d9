"""The HTTP API through FastAPI's TestClient, on every backend (issue 14): every
endpoint, idempotent retries, problem details, the meter key, login tokens ending with
their session."""

from __future__ import annotations

import csv
import io
import threading
import uuid

import pytest

from energy_tui.db.models import ApiClientOrder, AuditLog, EnergyOrder, MeterReading
from energy_tui.errors import PermissionDenied
from energy_tui.services import keys, users
from energy_tui.services.context import Actor
from energy_tui.services.market import invariants
from tests.api_support import PASSWORD, bearer, client_for, key, make_app, problem, user
from tests.clock_support import freeze
from tests.market_support import OPERATOR, balances

V1 = "/api/v1"


@pytest.fixture(scope="module")
def client():
    return client_for(make_app())


@pytest.fixture
def pair(backend):
    """alice (100 WATT) and bob (50 kWh), traders, each with a read+trade key."""
    user("alice", watt="100")
    user("bob", energy="50")
    return key("alice"), key("bob")


def order(client, headers, side, amount, price, **extra):
    body = {"side": side, "amount": amount, "price": price, "confirm": True, **extra}
    return client.post(f"{V1}/orders", json=body, headers=headers)


def test_two_keys_cross_and_every_read_shows_it_exactly(client, pair):
    alice, bob = pair
    sell = order(client, bob, "sell", "10", "0.2400")
    assert sell.status_code == 201, sell.text
    assert (sell.json()["order"]["status"], sell.json()["fills"]) == ("open", [])
    assert (sell.json()["order"]["filled"], sell.json()["order"]["watt_reserved"]) == (
        "0.00",
        "0.00",
    )
    buy = order(client, alice, "buy", "4", "0.2500")
    assert buy.status_code == 201, buy.text
    placed = buy.json()
    assert placed["order"]["status"] == "filled"
    (fill,) = placed["fills"]
    assert fill["side"] == "buy"  # the fills of my order: I bought
    # 4 x 0.2400 = 0.96 at the maker's price; fee 5% = 0.048 -> 0.05 (up); 1.01 in all
    assert (fill["price"], fill["total"], fill["fee"], fill["buyer_total"]) == (
        "0.2400",
        "0.96",
        "0.05",
        "1.01",
    )
    assert fill["executed_at"].endswith("Z")

    book = client.get(f"{V1}/market/book", params={"depth": 5}, headers=alice).json()
    assert book["asks"] == [
        {"price": "0.2400", "quantity": "6.00", "orders": 1, "cumulative": "6.00"}
    ]
    assert (book["bids"], book["last_price"]) == ([], "0.2400")
    tape = client.get(f"{V1}/market/trades", headers=alice).json()
    assert [t["id"] for t in tape["items"]] == [fill["id"]]
    (day,) = client.get(f"{V1}/market/stats", headers=alice).json()
    assert (day["trades"], day["volume"], day["average_price"]) == (1, "4.00", "0.2400")
    (candle,) = client.get(
        f"{V1}/market/candles", params={"interval": 3600, "since": "2d"}, headers=alice
    ).json()
    assert (candle["open"], candle["close"], candle["volume"]) == ("0.2400", "0.2400", "4.00")
    assert client.get(f"{V1}/market/rules", headers=alice).json()["grid_fee_rate"] == "0.0500"

    mine = client.get(f"{V1}/account/balances", headers=alice).json()
    assert (mine["watt_total"], mine["watt_available"], mine["energy_bought"]) == (
        "98.99",
        "98.99",
        "4.00",
    )
    (trade,) = client.get(f"{V1}/account/trades", headers=alice).json()["items"]
    assert (trade["side"], trade["buyer_total"]) == ("buy", "1.01")
    assert (
        client.get(f"{V1}/account/trades", params={"side": "sell"}, headers=alice).json()["items"]
        == []
    )
    exported = client.get(f"{V1}/account/trades.csv", headers=alice)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["id"], r["side"]) for r in rows] == [(fill["id"], "buy")]

    sell_id = sell.json()["order"]["id"]
    detail = client.get(f"{V1}/orders/{sell_id}", headers=bob).json()
    assert (detail["order"]["status"], detail["order"]["remaining"]) == ("partially_filled", "6.00")
    assert [(f["id"], f["side"]) for f in detail["fills"]] == [(fill["id"], "sell")]
    listed = client.get(f"{V1}/orders", headers=bob).json()["items"]
    assert [o["id"] for o in listed] == [sell_id]
    closed = client.get(f"{V1}/orders", params={"status": "filled"}, headers=alice).json()
    assert [o["status"] for o in closed["items"]] == ["filled"]

    cancelled = client.delete(f"{V1}/orders/{sell_id}", headers=bob)
    assert cancelled.json()["status"] == "cancelled"
    problem(client.delete(f"{V1}/orders/{sell_id}", headers=bob), 409, "already cancelled")
    assert balances("bob").energy_reserved == 0
    assert invariants.check() == []


def test_preview_tells_cost_and_fill_without_writing(client, pair):
    alice, bob = pair
    order(client, bob, "sell", "10", "0.2400")
    before = EnergyOrder.select().count()
    preview = client.post(
        f"{V1}/orders/preview", json={"side": "buy", "amount": "5", "price": "0.25"}, headers=alice
    ).json()
    assert (preview["fill_now"], preview["fill_price"], preview["total"]) == (
        "5.00",
        "0.2400",
        "1.32",
    )
    assert EnergyOrder.select().count() == before


def test_a_retried_client_order_id_returns_the_first_order(client, pair):
    alice, bob = pair
    order(client, bob, "sell", "10", "0.2400")
    first = order(client, alice, "buy", "4", "0.2500", client_order_id="bot-1")
    again = order(client, alice, "buy", "4", "0.2500", client_order_id="bot-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["replayed"] is True
    assert again.json()["order"]["id"] == first.json()["order"]["id"]
    assert [f["id"] for f in again.json()["fills"]] == [f["id"] for f in first.json()["fills"]]
    assert EnergyOrder.select().where(EnergyOrder.trader_address == "alice").count() == 1
    assert balances("alice").energy_bought == 4
    # the same id for another order is a conflict, not a second order
    problem(
        order(client, alice, "buy", "5", "0.2500", client_order_id="bot-1"),
        409,
        "already placed another order",
        field="client_order_id",
    )
    # ... and so is the same amount at the same price with another time in force
    problem(
        order(client, alice, "buy", "4", "0.2500", client_order_id="bot-1", time_in_force="fok"),
        409,
        "already placed another order (buy 4.00 kWh at 0.2500 GTC",
        field="client_order_id",
    )
    assert balances("alice").energy_bought == 4
    # ids are per user: bob may use the same one
    assert order(client, bob, "sell", "1", "0.2400", client_order_id="bot-1").status_code == 201


def test_a_filled_placement_answers_its_exact_average_fill_price(client, pair):
    alice, bob = pair
    order(client, bob, "sell", "1", "0.2400")
    order(client, bob, "sell", "1", "0.2401")
    resting = order(client, bob, "sell", "5", "0.2600").json()["order"]
    assert resting["average_price"] is None  # no fill, no average
    placed = order(client, alice, "buy", "2", "0.2500", client_order_id="avg-1").json()
    # (0.2400 + 0.2401) / 2 = 0.24005: half-even to 0.2400 (half-up would say 0.2401)
    assert [f["price"] for f in placed["fills"]] == ["0.2400", "0.2401"]
    assert placed["order"]["average_price"] == "0.2400"
    read_back = client.get(f"{V1}/orders/{placed['order']['id']}", headers=alice).json()
    assert read_back["order"]["average_price"] == "0.2400"
    replayed = order(client, alice, "buy", "2", "0.2500", client_order_id="avg-1").json()
    assert (replayed["replayed"], replayed["order"]["average_price"]) == (True, "0.2400")
    partly = order(client, alice, "buy", "7", "0.2600", time_in_force="ioc").json()["order"]
    assert (partly["filled"], partly["average_price"]) == ("5.00", "0.2600")


def test_client_order_ids_differing_by_case_are_two_orders_on_every_backend(client, pair):
    alice, bob = pair
    order(client, bob, "sell", "10", "0.2400")
    lower = order(client, alice, "buy", "1", "0.2500", client_order_id="bot-abc")
    upper = order(client, alice, "buy", "2", "0.2500", client_order_id="bot-ABC")
    assert (lower.status_code, upper.status_code) == (201, 201), upper.text
    assert upper.json()["replayed"] is False
    assert lower.json()["order"]["id"] != upper.json()["order"]["id"]
    again = order(client, alice, "buy", "2", "0.2500", client_order_id="bot-ABC")
    assert (again.status_code, again.json()["order"]["id"]) == (200, upper.json()["order"]["id"])
    assert balances("alice").energy_bought == 3
    stored = sorted(r.client_order_id for r in ApiClientOrder.select())
    assert stored == ["bot-ABC", "bot-abc"]  # as the client typed them


def test_a_refused_placement_keeps_no_client_order_id(client, pair):
    alice, _ = pair
    refused = order(client, alice, "buy", "1000", "0.2500", client_order_id="x-1")
    problem(refused, 422, field="amount")
    assert ApiClientOrder.select().count() == 0
    assert order(client, alice, "buy", "4", "0.2500", client_order_id="x-1").status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "fragment", "field"),
    [
        ({"side": "buy", "amount": "abc", "price": "0.25"}, 422, "not a number", "amount"),
        ({"side": "buy", "amount": "-1", "price": "0.25"}, 422, "amount", "amount"),
        ({"side": "buy", "amount": "1.23456", "price": "0.25"}, 422, "amount", "amount"),
        ({"side": "buy", "amount": "1", "price": "0"}, 422, "price", "price"),
        ({"side": "hold", "amount": "1", "price": "0.25"}, 422, "side", "side"),
        ({"side": "buy", "price": "0.25"}, 422, "Field required", "amount"),
        ({"side": "buy", "amount": "1", "price": "0.25", "tip": 1}, 422, "tip", "tip"),
        ({"side": "buy", "amount": "1", "price": "0.25", "expires": "yesterday"}, 422, "", None),
        ({"side": "buy", "amount": "0.01", "price": "0.25"}, 422, "minimum order value", "amount"),
        ({"side": "buy", "amount": "1000", "price": "0.25"}, 422, "WATT", "amount"),
    ],
)
def test_bad_orders_are_problems_naming_the_field_and_write_nothing(
    client, pair, body, status, fragment, field
):
    alice, _ = pair
    audit_rows = AuditLog.select().count()
    response = client.post(f"{V1}/orders", json={"confirm": True, **body}, headers=alice)
    found = problem(response, status, fragment)
    if field is not None:
        assert found["field"] == field
    assert EnergyOrder.select().count() == 0
    assert AuditLog.select().count() == audit_rows


def test_the_fat_finger_guard_asks_for_confirm(client, pair):
    alice, _ = pair
    body = {"side": "buy", "amount": "4", "price": "0.90"}
    problem(client.post(f"{V1}/orders", json=body, headers=alice), 422, '"confirm": true')
    assert (
        client.post(f"{V1}/orders", json={**body, "confirm": True}, headers=alice).status_code
        == 201
    )


def test_a_confirmed_market_order_without_a_cap_is_still_judged(client, pair):
    # a confirmed order with a price skips the guard's reads; a market order without a
    # cap does not: its cap comes from the guard's reference (none on an empty market)
    alice, _ = pair
    body = {"side": "buy", "amount": "1", "type": "market", "confirm": True}
    problem(client.post(f"{V1}/orders", json=body, headers=alice), 422, "price cap")
    assert EnergyOrder.select().count() == 0


def test_other_problems(client, pair):
    alice, bob = pair
    problem(client.get(f"{V1}/orders/not-a-uuid", headers=alice), 422, "not an order id")
    problem(client.get(f"{V1}/orders/{uuid.uuid4()}", headers=alice), 404, "no order")
    sell = order(client, bob, "sell", "1", "0.2400").json()["order"]["id"]
    problem(client.get(f"{V1}/orders/{sell}", headers=alice), 403, "not yours")
    problem(client.delete(f"{V1}/orders/{sell}", headers=alice), 403, "not yours")
    problem(client.get(f"{V1}/market/book"), 401, "authentication required")
    problem(client.get(f"{V1}/market/book", headers={"X-API-Key": "nope"}), 401, "malformed")
    problem(client.get(f"{V1}/market/trades", params={"cursor": "zzz"}, headers=alice), 422,
            "cursor", field="cursor")  # fmt: skip
    problem(client.get(f"{V1}/nowhere", headers=alice), 404)
    problem(client.post(f"{V1}/orders", content=b"{not json", headers={
        **alice, "content-type": "application/json"}), 422)  # fmt: skip


def test_a_revoked_key_stops_at_the_next_call_and_last_used_moves(client, pair):
    alice, _ = pair
    assert client.get(f"{V1}/market/book", headers=alice).status_code == 200
    (info,) = keys.list_keys(OPERATOR, "alice")
    assert info.last_used is not None
    keys.revoke(OPERATOR, info.prefix)
    problem(client.get(f"{V1}/market/book", headers=alice), 401, "revoked")
    denied = AuditLog.select().where(AuditLog.event_type == "api_key_denied").get()
    assert denied.ip_address == "testclient"


def test_pages_follow_the_cursor_to_the_end(client, pair):
    _, bob = pair
    for _ in range(5):
        order(client, bob, "sell", "1", "0.2400")
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{V1}/orders", params=params, headers=bob).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5


def test_pages_through_history_give_each_order_once_newest_placed_first_across_an_amend(
    client, pair
):
    # an amend that loses priority renews the order's seq: paging must not follow it
    _, bob = pair
    placed = [order(client, bob, "sell", "1", "0.2400").json()["order"]["id"] for _ in range(5)]
    first = client.get(f"{V1}/orders", params={"limit": 2}, headers=bob).json()
    seen, cursor = [o["id"] for o in first["items"]], first["next_cursor"]
    for oldest_unseen in (placed[0], placed[1]):  # before the next page: both lose priority
        amended = client.patch(f"{V1}/orders/{oldest_unseen}", json={"price": "0.2500"},
                               headers=bob)  # fmt: skip
        assert amended.json()["kept_place"] is False, amended.text
    while cursor is not None:
        page = client.get(f"{V1}/orders", params={"limit": 2, "cursor": cursor},
                          headers=bob).json()  # fmt: skip
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
    assert seen == placed[::-1]
    whole = client.get(f"{V1}/orders", headers=bob).json()["items"]
    assert [o["id"] for o in whole] == placed[::-1]


def test_operators_and_admins_manage_prosumers_users_keys_and_read_the_audit(client, backend):
    user("olga", role="operator")
    user("adam", role="admin")
    olga, adam = key("olga", "read,trade,manage"), key("adam", "read,manage")
    made = client.post(f"{V1}/prosumers", json={"address": "carol-house", "name": "Carol"},
                       headers=olga)  # fmt: skip
    assert made.status_code == 201, made.text
    assert client.post(f"{V1}/prosumers/carol-house/deposit", json={"amount": "12.50"},
                       headers=olga).json()["watt_total"] == "12.50"  # fmt: skip
    assert client.post(f"{V1}/prosumers/carol-house/withdraw", json={"amount": "2.5"},
                       headers=olga).json()["watt_total"] == "10.00"  # fmt: skip
    problem(client.post(f"{V1}/prosumers/carol-house/withdraw", json={"amount": "99"},
                        headers=olga), 422, "cannot withdraw", field="amount")  # fmt: skip
    problem(client.post(f"{V1}/prosumers", json={"address": "carol-house", "name": "C"},
                        headers=olga), 409)  # fmt: skip
    listed = client.get(f"{V1}/prosumers", headers=olga).json()["items"]
    assert "carol-house" in [p["address"] for p in listed]

    new_user = {"username": "carol", "email": "carol@example.org", "password": PASSWORD,
                "prosumer": "carol-house"}  # fmt: skip
    problem(client.post(f"{V1}/users", json=new_user, headers=olga), 403, "manage users")
    assert client.post(f"{V1}/users", json=new_user, headers=adam).status_code == 201
    problem(client.post(f"{V1}/users", json=new_user, headers=adam), 409, "already taken")
    assert client.put(f"{V1}/users/carol/role", json={"role": "viewer"},
                      headers=adam).json()["role"] == "viewer"  # fmt: skip
    assert client.put(f"{V1}/users/carol/role", json={"role": "trader"},
                      headers=adam).json()["role"] == "trader"  # fmt: skip
    assert client.post(f"{V1}/users/carol/disable", headers=adam).json()["is_active"] is False
    assert client.post(f"{V1}/users/carol/enable", headers=adam).json()["is_active"] is True
    names = [u["username"] for u in client.get(f"{V1}/users", headers=adam).json()["items"]]
    assert "carol" in names

    created = client.post(f"{V1}/keys", json={"user": "carol", "name": "bot",
                          "permissions": ["read", "trade"]}, headers=olga)  # fmt: skip
    assert created.status_code == 201, created.text
    secret = created.json()["key"]
    prefix = created.json()["info"]["prefix"]
    assert secret.startswith(prefix + "_")
    listed_keys = client.get(f"{V1}/keys", params={"user": "carol"}, headers=olga).json()
    assert [k["prefix"] for k in listed_keys["items"]] == [prefix]
    assert secret not in str(listed_keys)
    assert client.get(f"{V1}/market/book", headers={"X-API-Key": secret}).status_code == 200
    assert client.delete(f"{V1}/keys/{prefix}", headers=olga).json()["status"] == "revoked"
    problem(client.delete(f"{V1}/keys/{prefix}", headers=olga), 409, "already revoked")

    entries = client.get(f"{V1}/audit", params={"event": "deposit"}, headers=olga).json()
    (entry,) = entries["items"]
    assert entry["actor"].startswith("user:olga key:") and entry["ip_address"] == "testclient"
    assert entry["data"]["amount"] == "12.50"
    problem(client.get(f"{V1}/audit", headers=key("carol", "read")), 403, "audit")


def test_a_meter_key_posts_readings_for_its_own_prosumer_only(client, pair):
    user("olga", role="operator")
    olga = key("olga", "read,manage")
    made = client.post(f"{V1}/keys", json={"user": "alice", "name": "meter",
                       "permissions": ["meter"]}, headers=olga)  # fmt: skip
    assert made.status_code == 201, made.text
    meter = {"X-API-Key": made.json()["key"]}
    one = client.post(f"{V1}/account/meter-readings", json={"generated": "1.25"}, headers=meter)
    assert one.status_code == 201, one.text
    assert one.json()["balances"]["energy_generated"] == "1.25"
    batch = {"readings": [{"generated": "2", "consumed": "0.5"}, {"consumed": "0.25"}]}
    posted = client.post(f"{V1}/account/meter-readings", json=batch, headers=meter).json()
    assert (posted["recorded"], posted["balances"]["energy_generated"]) == (2, "3.25")
    assert posted["balances"]["energy_consumed"] == "0.75"
    # a bad reading in a batch writes none of it
    bad = {"readings": [{"generated": "1"}, {"generated": "-1"}]}
    problem(client.post(f"{V1}/account/meter-readings", json=bad, headers=meter), 422)
    assert MeterReading.select().where(MeterReading.prosumer == "alice").count() == 3
    # nothing else: not another prosumer's meter, not the market
    problem(client.post(f"{V1}/prosumers/bob/meter-readings", json={"generated": "5"},
                        headers=meter), 403)  # fmt: skip
    problem(client.get(f"{V1}/market/book", headers=meter), 403, "read market")
    problem(client.get(f"{V1}/account/meter-readings", headers=meter), 403)
    # the trader's own keys and sessions may not post readings, nor make a meter key
    alice, _ = pair
    problem(client.post(f"{V1}/account/meter-readings", json={"generated": "5"},
                        headers=alice), 403)  # fmt: skip
    problem(client.post(f"{V1}/keys", json={"user": "alice", "name": "m",
            "permissions": ["meter"]}, headers=key("alice", "read,trade")), 403)  # fmt: skip
    readings = client.get(f"{V1}/account/meter-readings", headers=alice).json()["items"]
    assert [r["energy_generated"] for r in readings][-1] == "1.25"
    assert readings[0]["recorded_by"].startswith("user:alice key:")


def test_a_trader_posting_own_readings_is_told_what_it_lacks(client, pair):
    alice, _ = pair
    reading = {"generated": "5"}
    problem(client.post(f"{V1}/account/meter-readings", json=reading, headers=alice), 403,
            "may not post meter readings for own prosumer with this API key")  # fmt: skip
    token = login(client).json()["access_token"]
    problem(client.post(f"{V1}/account/meter-readings", json=reading, headers=bearer(token)),
            403, "`meter` permission", "not from a login session")  # fmt: skip
    assert MeterReading.select().where(MeterReading.prosumer == "alice").count() == 0
    denied = AuditLog.select().where(AuditLog.event_type == "permission_denied")
    assert denied.count() == 2


def test_a_body_that_is_not_a_json_object_says_so(client, pair):
    alice, _ = pair
    form = client.post(f"{V1}/orders", content=b"side=buy", headers={
        **alice, "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    problem(form, 422, "must be a JSON object", "Content-Type: application/json")
    broken = client.post(f"{V1}/orders", content=b"{bad", headers={
        **alice, "Content-Type": "application/json"})  # fmt: skip
    assert problem(broken, 422, "not valid JSON (at character 1").get("field") is None
    listed = client.post(f"{V1}/orders", json=["buy"], headers=alice)
    problem(listed, 422, "must be a JSON object ({...})")
    problem(client.get(f"{V1}/nothing", headers=alice), 404, "no endpoint /api/v1/nothing", "/docs")
    problem(client.put(f"{V1}/orders", headers=alice), 405, "PUT is not an endpoint")


# --- login tokens ------------------------------------------------------------------------


def login(client, name="alice", password=PASSWORD):
    return client.post(f"{V1}/auth/login", json={"username": name, "password": password})


def test_a_login_token_acts_as_the_user_until_logout(client, pair):
    response = login(client)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert client.get(f"{V1}/auth/whoami", headers=bearer(token)).json()["username"] == "alice"
    assert order(client, bearer(token), "buy", "1", "0.25").status_code == 201
    assert client.post(f"{V1}/auth/logout", headers=bearer(token)).status_code == 200
    problem(client.get(f"{V1}/auth/whoami", headers=bearer(token)), 401, "logged out")


def test_disabling_the_user_or_changing_the_password_ends_the_token_at_once(client, pair):
    first = login(client).json()["access_token"]
    users.set_password(OPERATOR, "alice", "another long password", rounds=4)
    problem(client.get(f"{V1}/market/book", headers=bearer(first)), 401, "password was changed")
    second = login(client, password="another long password").json()["access_token"]
    assert client.get(f"{V1}/market/book", headers=bearer(second)).status_code == 200
    users.set_active(OPERATOR, "alice", False)
    problem(client.get(f"{V1}/market/book", headers=bearer(second)), 401, "disabled")


def test_bad_logins_are_the_apps_refusals_and_lock_the_account(client, pair):
    for _ in range(5):
        problem(login(client, password="wrong password"), 401, "invalid username or password")
    problem(login(client), 401, "locked")
    problem(login(client, name="nobody"), 401, "invalid username or password")
    tampered = login(client, name="bob").json()["access_token"][:-2] + "xx"
    problem(client.get(f"{V1}/market/book", headers=bearer(tampered)), 401, "not valid")
    assert AuditLog.select().where(AuditLog.event_type == "login_failed").count() >= 6


def test_login_is_off_without_a_long_enough_secret(backend):
    off = client_for(make_app(jwt_secret="short"))
    user("alice", watt="1")
    problem(off.post(f"{V1}/auth/login", json={"username": "alice", "password": PASSWORD}),
            403, "JWT_SECRET")  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment", "field"),
    [
        ("/users", {"username": "x", "email": "x@example.org", "password": PASSWORD}, 422,
         "username must be", "username"),
        ("/users", {"username": "carol", "email": "not-an-email", "password": PASSWORD}, 422,
         "email", "email"),
        ("/users", {"username": "carol", "email": "c@example.org", "password": "short"}, 422,
         "password", "password"),
        ("/users", {"username": "carol", "email": "c@example.org", "password": PASSWORD,
                    "role": "king"}, 422, "role", "role"),
        ("/users", {"username": "carol", "email": "c@example.org", "password": PASSWORD,
                    "prosumer": "nowhere"}, 404, "no prosumer", "prosumer"),
        ("/keys", {"user": "alice", "name": "k", "permissions": ["root"]}, 422,
         "unknown key permission", "permissions"),
        ("/keys", {"user": "alice", "name": "k", "expires": "last week"}, 422, "", "expires"),
        ("/keys", {"user": "nobody", "name": "k"}, 404, "no user", "username"),
        ("/prosumers", {"address": "bad address!", "name": "x"}, 422, "address", "address"),
        ("/prosumers/alice/deposit", {"amount": "1.234"}, 422, "amount", "amount"),
        ("/prosumers/nowhere/deposit", {"amount": "1"}, 404, "no prosumer", None),
    ],
)  # fmt: skip
def test_bad_identity_and_prosumer_input_is_a_problem_naming_the_field(
    client, backend, path, body, status, fragment, field
):
    user("alice", watt="1")
    user("adam", role="admin")
    adam = key("adam", "read,trade,manage")
    audit_rows = AuditLog.select().count()
    found = problem(client.post(V1 + path, json=body, headers=adam), status, fragment)
    if field is not None:
        assert found.get("field") == field, found
    assert AuditLog.select().count() == audit_rows


def test_the_cli_creates_meter_keys(cli, backend):
    user("alice", watt="1")
    created = cli("--db", backend.url, "key", "create", "--user", "alice", "--name", "meter",
                  "--permissions", "meter", "--json")  # fmt: skip
    assert created.code == 0, created
    assert '"meter"' in created.out
    # a trader (here in a login session, with every right of the role) may not
    alice = Actor("user:alice", "trader", user_id=users.get("alice").id, username="alice",
                  prosumer_address="alice")  # fmt: skip
    with pytest.raises(PermissionDenied, match="manage prosumers"):
        keys.create_key(alice, "alice", "m", "meter")


def test_concurrent_retries_of_one_client_order_id_place_one_order(client, pair):
    alice, bob = pair
    order(client, bob, "sell", "10", "0.2400")
    answers: list = []

    def send() -> None:
        answers.append(order(client, alice, "buy", "1", "0.2500", client_order_id="race-1"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201], [a.text for a in answers]
    assert len({a.json()["order"]["id"] for a in answers}) == 1
    assert EnergyOrder.select().where(EnergyOrder.trader_address == "alice").count() == 1
    assert balances("alice").energy_bought == 1


# --- order kinds of the orders issue: market, FOK, amend, cancel all ---------------------


def test_market_and_fok_orders(client, pair):
    alice, bob = pair
    problem(client.post(f"{V1}/orders", json={"side": "buy", "amount": "1", "type": "market"},
            headers=alice), 422, 'needs a price cap ("price"', field="price")  # fmt: skip
    order(client, bob, "sell", "3", "0.2400")
    order(client, bob, "sell", "3", "0.2500")
    killed = order(client, alice, "buy", "10", "0.2500", time_in_force="fok")
    assert killed.status_code == 201, killed.text
    assert (killed.json()["order"]["status"], killed.json()["fills"]) == ("cancelled", [])
    assert killed.json()["order"]["reason"]
    market = client.post(f"{V1}/orders", json={"side": "buy", "amount": "4", "type": "market",
                         "price": "0.2500", "confirm": True}, headers=alice)  # fmt: skip
    assert market.status_code == 201, market.text
    placed = market.json()
    assert (placed["order"]["type"], placed["order"]["status"]) == ("market", "filled")
    assert [f["price"] for f in placed["fills"]] == ["0.2400", "0.2500"]
    detail = client.get(f"{V1}/orders/{placed['order']['id']}", headers=alice).json()
    assert detail["order"]["average_price"] == "0.2425"  # (3 x 0.24 + 1 x 0.25) / 4
    problem(client.post(f"{V1}/orders", json={"side": "buy", "amount": "1", "type": "market",
            "time_in_force": "gtc"}, headers=alice), 422, "never rests",
            field="time_in_force")  # fmt: skip
    problem(client.post(f"{V1}/orders", json={"side": "buy", "amount": "1"}, headers=alice),
            422)  # fmt: skip


def test_amend_keeps_or_loses_the_place_and_cancel_all_releases_everything(client, pair):
    alice, bob = pair
    first = order(client, bob, "sell", "10", "0.2500").json()["order"]["id"]
    order(client, bob, "sell", "5", "0.2600")
    smaller = client.patch(f"{V1}/orders/{first}", json={"amount": "8"}, headers=bob)
    assert smaller.status_code == 200, smaller.text
    assert (smaller.json()["kept_place"], smaller.json()["order"]["amount"]) == (True, "8.00")
    repriced = client.patch(f"{V1}/orders/{first}", json={"price": "0.2450"}, headers=bob)
    assert (repriced.json()["kept_place"], repriced.json()["order"]["price"]) == (
        False,
        "0.2450",
    )
    problem(client.patch(f"{V1}/orders/{first}", json={}, headers=bob), 422, "give a new price")
    problem(client.patch(f"{V1}/orders/{first}", json={"price": "0.30"}, headers=alice), 403)
    assert balances("bob").energy_reserved == 13
    done = client.delete(f"{V1}/orders", headers=bob)
    assert done.status_code == 200, done.text
    assert (done.json()["cancelled"], done.json()["released_energy"]) == (2, "13.00")
    assert balances("bob").energy_reserved == 0
    assert client.get(f"{V1}/orders", headers=bob).json()["items"] == []
    every = client.get(f"{V1}/orders", params={"status": "all"}, headers=bob).json()["items"]
    assert {o["status"] for o in every} == {"cancelled"}
    assert invariants.check() == []


def test_a_market_order_is_placed_at_the_default_cap_its_preview_showed(client, pair):
    alice, bob = pair

    def trade_at(price):
        order(client, bob, "sell", "1", price)
        order(client, alice, "buy", "1", price)

    trade_at("0.2000")  # last trade 0.2000: a market buy's default cap is 0.2400
    order(client, bob, "sell", "5", "0.2400")
    order(client, bob, "sell", "5", "0.2450")
    shown = client.post(f"{V1}/orders/preview", json={"side": "buy", "amount": "10",
                        "type": "market"}, headers=alice)  # fmt: skip
    assert shown.status_code == 200, shown.text
    assert (shown.json()["cap"], shown.json()["fill_now"]) == ("0.2400", "5.00")
    assert shown.json()["cap_note"] == "default cap: last trade 0.2000 + the 20% price band"
    trade_at("0.2100")  # the default is 0.2520 now, which would also take the 0.2450 ask

    body = {"side": "buy", "amount": "10", "type": "market", "confirm": True}
    placed = client.post(
        f"{V1}/orders", json=body | {"default_cap": shown.json()["cap"]}, headers=alice
    )

    assert placed.status_code == 201, placed.text
    assert (placed.json()["order"]["price"], placed.json()["order"]["filled"]) == (
        "0.2400",
        "5.00",
    )
    trade_at("0.1900")  # the band now ends at 0.2280: a cap of 0.2400 lies outside it
    before = balances("alice")
    problem(client.post(f"{V1}/orders", json={"side": "buy", "amount": "1", "type": "market",
            "default_cap": "0.2400", "confirm": True}, headers=alice), 422,
            "the market moved: the default cap 0.2400 you confirmed is now outside",
            field="price")  # fmt: skip
    assert balances("alice") == before
    problem(client.post(f"{V1}/orders", json={"side": "buy", "amount": "1", "price": "0.2",
            "default_cap": "0.2400"}, headers=alice), 422, "market order without price",
            field="default_cap")  # fmt: skip
    assert invariants.check() == []


def test_an_order_past_its_expiry_is_listed_as_expired_not_open(client, pair, monkeypatch):
    clock = freeze(monkeypatch)
    alice, _ = pair
    due = order(client, alice, "buy", "1", "0.0500", expires="1h").json()["order"]
    clock.advance(hours=2)  # not swept yet

    assert client.get(f"{V1}/orders", headers=alice).json()["items"] == []
    listed = client.get(f"{V1}/orders", params={"status": "expired"}, headers=alice).json()
    assert [(o["id"], o["status"]) for o in listed["items"]] == [(due["id"], "expired")]
    detail = client.get(f"{V1}/orders/{due['id']}", headers=alice).json()["order"]
    assert (detail["status"], detail["reason"]) == ("expired", "its lifetime ran out (expires_at)")
    problem(client.delete(f"{V1}/orders/{due['id']}", headers=alice), 409, "already expired")


def test_amounts_read_at_their_columns_scale_as_the_cli_gives_them(client, pair):
    alice, bob = pair
    shown = client.post(f"{V1}/orders/preview", json={"side": "sell", "amount": "4",
                        "price": "0.1200"}, headers=bob).json()  # fmt: skip
    assert [shown[k] for k in ("fee", "savings", "fill_now", "fill_cost")] == ["0.00"] * 4
    order(client, bob, "sell", "1", "0.1000")
    filled = order(client, alice, "buy", "1", "0.1000").json()["order"]
    assert (filled["status"], filled["watt_reserved"]) == ("filled", "0.00")


def test_cancel_all_up_to_placed_seq_leaves_orders_placed_after_the_listing_open(client, pair):
    _, bob = pair
    order(client, bob, "sell", "3", "0.2500")
    listed = client.get(f"{V1}/orders", headers=bob).json()["items"]
    later = order(client, bob, "sell", "2", "0.2600").json()["order"]
    seen = max(o["placed_seq"] for o in listed)

    done = client.delete(f"{V1}/orders", params={"up_to_placed_seq": seen}, headers=bob)

    assert done.status_code == 200, done.text
    assert (done.json()["cancelled"], done.json()["left_newer"]) == (1, 1)
    assert [o["id"] for o in done.json()["orders"]] == [listed[0]["id"]]
    still = client.get(f"{V1}/orders", headers=bob).json()["items"]
    assert [o["id"] for o in still] == [later["id"]]
    problem(client.delete(f"{V1}/orders", params={"up_to_placed_seq": -1}, headers=bob), 422)
    assert invariants.check() == []


def test_revoking_a_key_over_the_api_revokes_the_keys_made_with_it(client, backend):
    user("olga", role="operator")
    user("adam", role="admin")
    user("carol")
    root = keys.create_key(OPERATOR, "olga", "root", "read,trade,manage")
    root_key = {"X-API-Key": root.key}
    made = client.post(f"{V1}/keys", json={"user": "olga", "name": "child",
                       "permissions": ["read", "trade", "manage"]}, headers=root_key)  # fmt: skip
    assert made.status_code == 201, made.text
    child = made.json()
    assert child["info"]["made_by"] == root.info.prefix
    grand = client.post(f"{V1}/keys", json={"user": "carol", "name": "grand"},
                        headers={"X-API-Key": child["key"]}).json()  # fmt: skip
    session = users.get("olga")
    sibling = keys.create_key(
        Actor(label="user:olga", role="operator", user_id=session.id, username="olga"),
        "carol",
        "sibling",
        ["read"],
    )
    adam = key("adam", "read,manage")
    listed = client.get(f"{V1}/keys", headers=adam).json()["items"]
    assert {k["name"]: k["made_by"] for k in listed} == {
        "root": None,
        "child": root.info.prefix,
        "grand": child["info"]["prefix"],
        "sibling": None,
        "tests": None,
    }

    start = AuditLog.select().count()
    revoked = client.delete(f"{V1}/keys/{root.info.prefix}", headers=adam)
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert (body["prefix"], body["status"]) == (root.info.prefix, "revoked")
    assert [(k["name"], k["owner"], k["status"]) for k in body["made_with"]] == [
        ("child", "olga", "revoked"),
        ("grand", "carol", "revoked"),
    ]
    assert body["message"].startswith(
        f"revoked API key {root.info.prefix} 'root' of olga and 2 keys made with it: "
    )
    logged = AuditLog.select().where(AuditLog.event_type == "api_key_revoked").count()
    assert logged == 3 and AuditLog.select().count() == start + 3
    for secret in (root.key, child["key"], grand["key"]):
        problem(client.get(f"{V1}/market/book", headers={"X-API-Key": secret}), 401, "revoked")
    assert client.get(f"{V1}/market/book", headers={"X-API-Key": sibling.key}).status_code == 200
    problem(client.delete(f"{V1}/keys/{root.info.prefix}", headers=adam), 409, "already revoked")
