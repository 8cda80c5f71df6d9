from decimal import Decimal

from energy_tui.db.exact import exact_sum, exact_value
from energy_tui.db.fields import MONEY_PLACES
from energy_tui.db.models import Prosumer


def test_ten_thousand_cents_sum_to_exactly_one_hundred(backend):
    rows = [
        {"address": f"p{i}", "name": "n", "watt_tokens": Decimal("0.01")} for i in range(10_000)
    ]
    with backend.database.atomic():
        for start in range(0, len(rows), 500):
            Prosumer.insert_many(rows[start : start + 500]).execute()
    raw = Prosumer.select(exact_sum(backend.database, Prosumer.watt_tokens, MONEY_PLACES)).scalar()
    total = exact_value(backend.database, raw, MONEY_PLACES)
    assert total == Decimal("100.00")
    assert str(total) == "100.00"
