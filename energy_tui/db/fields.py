"""Field types with the schema's exact precision on every backend."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from peewee import DecimalField, Field

ENERGY_PLACES = 2  # kWh, DECIMAL(15,2)
PRICE_PLACES = 4  # WATT per kWh, DECIMAL(10,4)
MONEY_PLACES = 2  # WATT, DECIMAL(15,2)


class ExactDecimalField(DecimalField):
    """DECIMAL(p, s) that always reads back as a Decimal with exactly `s` places.

    On SQLite the column has NUMERIC affinity and holds a REAL; every value we store
    has at most 15 significant digits, so it round-trips exactly, and quantizing on
    read removes any float representation noise. Aggregates go through `db.exact`.
    """

    def __init__(self, max_digits: int, decimal_places: int, **kwargs: Any) -> None:
        # a new row shows "0.00", as it will once read back
        kwargs.setdefault("default", Decimal(0).scaleb(-decimal_places))
        super().__init__(
            max_digits=max_digits, decimal_places=decimal_places, auto_round=True, **kwargs
        )

    def python_value(self, value: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(self._exp)


def EnergyField(**kwargs: Any) -> Any:  # a column on the model, a Decimal on a row
    return ExactDecimalField(15, ENERGY_PLACES, **kwargs)


def MoneyField(**kwargs: Any) -> Any:  # a column on the model, a Decimal on a row
    return ExactDecimalField(15, MONEY_PLACES, **kwargs)


def PriceField(**kwargs: Any) -> Any:  # a column on the model, a Decimal on a row
    return ExactDecimalField(10, PRICE_PLACES, **kwargs)


class PermissionsField(Field):
    """`TEXT[]` on PostgreSQL (as the seed schema has it), comma-separated TEXT elsewhere.

    The column type `PERMISSIONS` is mapped per backend in `db.connect`.
    """

    field_type = "PERMISSIONS"

    def _native(self) -> bool:
        database = self.model._meta.database
        return bool(database._field_types.get("PERMISSIONS") == "TEXT[]")

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        items = sorted(set(value))
        return items if self._native() else ",".join(items)

    def python_value(self, value: Any) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            return [item for item in value.strip("{}").split(",") if item]
        return list(value)
