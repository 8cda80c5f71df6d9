"""PostgreSQL: a placement's statements find their rows by index, so that a fill costs
the same whatever the number of prosumers (migration 0033).

PL/pgSQL keeps a generic plan for each statement after a few calls; a generic plan
cannot use an index for a condition picked by a parameter (`CASE WHEN buying THEN
address = ... ELSE lower(address) = ... END`), and read every prosumer twice a fill.
Which plan PL/pgSQL keeps depends on the table's size and statistics (about 400
prosumers: the generic plan, reading the table; many thousands: a new custom plan every
call, planning each time). The test makes it deterministic: with statistics on 2,000
prosumers, it forces the generic plans (`plan_cache_mode`) and counts the sequential
scans of the trading placement's own transaction (`pg_stat_xact_user_tables`).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from energy_tui import clock
from energy_tui.db.models import Prosumer, db
from tests.market_support import trader

D = Decimal
PLACE = (
    "SELECT count(*) FROM energy_tui_place_order(%s::uuid, %s, %s, %s::numeric, "
    "%s::numeric, 'gtc', NULL, 'limit', %s, NULL, NULL, NULL, 'test')"
)
SCANS = (
    "SELECT relname, seq_scan FROM pg_stat_xact_user_tables "
    "WHERE relname IN ('prosumers', 'energy_orders') AND seq_scan > 0"
)


@pytest.fixture(autouse=True)
def postgres_only(backend):
    if backend.name != "postgres":
        pytest.skip("PostgreSQL's placement function")
    return backend


def _place(address: str, side: str, amount: str, price: str) -> None:
    db.execute_sql(PLACE, (str(uuid.uuid4()), address, side, amount, price, clock.now()))


@pytest.mark.parametrize("taker", ["buy", "sell"])
def test_a_fill_reads_no_prosumer_table_whatever_its_size(taker):
    now = clock.now()
    Prosumer.insert_many(
        [
            {"address": f"home-{i:04d}", "name": f"Home {i}", "created_at": now, "updated_at": now}
            for i in range(2000)
        ]
    ).execute()
    db.execute_sql("ANALYZE prosumers")
    trader("seller", energy="1000")
    trader("buyer", watt="1000")
    maker, taker_address = ("seller", "buyer") if taker == "buy" else ("buyer", "seller")
    maker_side = "sell" if taker == "buy" else "buy"
    rounds = 3
    for _ in range(rounds):
        with db.atomic():
            db.execute_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            _place(maker, maker_side, "1", "0.2000")
            _place(taker_address, taker, "1", "0.2000")
            scans = db.execute_sql(SCANS).fetchall()
        assert scans == [], f"a trading placement read whole tables: {scans}"
    sold = Prosumer.get_by_id("seller").energy_sold
    assert sold == D(rounds)
