"""PostgreSQL: a settlement past a column's precision is refused, not a server error.

Each value typed is checked against its column, but a settlement adds: a seller's WATT
balance grows by the trade's total, `energy_bought` and `energy_sold` only grow, the fee
receiver's balance grows by every fee, a sell's hold (`energy_reserved`) by its amount,
the day's `market_statistics` and its candle buckets by every trade. Past DECIMAL(15,2)
(or the statistics' DECIMAL(24,6) notional) the write failed with SQLSTATE 22003,
which reached the user as an unexpected error, and every order crossing that account
failed so from then on.

This step replaces the functions that add (`energy_tui_match` of 0019,
`energy_tui_record_fills` of 0030, `energy_tui_place_order` and
`energy_tui_amend_order` of 0019) by the same texts with checks, in the order each
writes, refusing with SQLSTATE `ET006` and the Python path's message
(`services.market.limits`): the taker's own figure named, another account's never
described. On the hot path the checks cost no statement: the balance updates and the
statistics' upserts carry them as conditions (a fill that would overflow updates no row,
and only then is it told whose), the holds compare figures already read.

The texts are 0019's and 0030's with the checks put in by exact replacement; a text
that no longer holds a replaced part fails here, not silently. SQLite and MySQL:
nothing to do (the Python path checks before writing).
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of
from energy_tui.db.migrations import m0019_shared_matching as m0019
from energy_tui.db.migrations import m0030_record_fills_in_sets as m0030
from energy_tui.db.models import CANDLE_SIZES

LIMIT = "9999999999999.99"  # DECIMAL(15,2)
NOTIONAL_LIMIT = "999999999999999999.999999"  # market_statistics.notional, DECIMAL(24,6)
_SHOWN = "9,999,999,999,999.99"


def _own(what: str, unit: str) -> str:
    return (
        f"this order would take {what} past the largest amount an account holds "
        f"({_SHOWN} {unit}): nothing was done"
    )


# the messages of services.market.limits, as SQL string literals
OWN_WATT = _own("your WATT balance", "WATT")
OWN_BOUGHT = _own("your bought energy total", "kWh")
OWN_SOLD = _own("your sold energy total", "kWh")
OWN_HELD = _own("the energy held by your sell orders", "kWh")
OTHER = (
    f"this order would take another account's balance past the largest amount an account "
    f"holds ({_SHOWN}): nothing was done; a smaller amount may trade"
)
MARKET = (
    "this order would take the market's statistics of the day past the largest figures "
    f"they hold ({_SHOWN} kWh traded): nothing was done"
)


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _raise(message_sql: str) -> str:
    return f"RAISE EXCEPTION USING ERRCODE = 'ET006', HINT = 'amount', MESSAGE = {message_sql};"


def _either(condition: str, then: str, otherwise: str) -> str:
    return f"CASE WHEN {condition} THEN {_sql(then)} ELSE {_sql(otherwise)} END"


def replaced(text: str, *changes: tuple[str, str]) -> str:
    for old, new in changes:
        if text.count(old) != 1:
            raise RuntimeError(f"expected once in the function's text: {old[:60]!r}")
        text = text.replace(old, new)
    return text


_BUYER = """      energy_bought = prosumers.energy_bought + f_amount, updated_at = p_now
      WHERE CASE WHEN buying THEN address = p_trader
        ELSE lower(address) = lower(m.trader_address) END;
"""
_SELLER = """      energy_reserved = prosumers.energy_reserved - f_amount, updated_at = p_now
      WHERE CASE WHEN buying THEN lower(address) = lower(m.trader_address)
        ELSE address = p_trader END;
"""
_FEE = """      UPDATE prosumers SET watt_tokens = prosumers.watt_tokens + f_fee, updated_at = p_now
        WHERE lower(address) = lower(p_operator);
      IF NOT FOUND THEN
"""

MATCH = replaced(
    m0019.MATCH,
    ("  n int := 0;\nBEGIN", "  n int := 0;\n  v_watt_over boolean;\nBEGIN"),
    (
        _BUYER,
        _BUYER.replace(
            " END;\n",
            f" END\n        AND (prosumers.energy_bought + f_amount > {LIMIT}) IS NOT TRUE;\n"
            "    IF NOT FOUND THEN  -- past the column: whose (the taker's own, or not)\n"
            f"      {_raise(_either('buying', OWN_BOUGHT, OTHER))}\n"
            "    END IF;\n",
        ),
    ),
    (
        _SELLER,
        _SELLER.replace(
            " END;\n",
            f" END\n        AND (prosumers.watt_tokens + f_total > {LIMIT}\n"
            f"          OR prosumers.energy_sold + f_amount > {LIMIT}) IS NOT TRUE;\n"
            "    IF NOT FOUND THEN\n"
            "      IF buying THEN\n"
            f"        {_raise(_sql(OTHER))}\n"
            "      END IF;\n"
            "      SELECT (p.watt_tokens + f_total > "
            f"{LIMIT}) IS TRUE INTO v_watt_over\n"
            "        FROM prosumers p WHERE p.address = p_trader;\n"
            f"      {_raise(_either('v_watt_over', OWN_WATT, OWN_SOLD))}\n"
            "    END IF;\n",
        ),
    ),
    (
        _FEE,
        _FEE.split("\n", 1)[0] + "\n        WHERE lower(address) = lower(p_operator)\n"
        f"          AND (prosumers.watt_tokens + f_fee > {LIMIT}) IS NOT TRUE;\n"
        "      IF NOT FOUND AND EXISTS (SELECT 1 FROM prosumers p\n"
        "          WHERE lower(p.address) = lower(p_operator)) THEN\n"
        f"        {_raise(_either('lower(p_operator) = lower(p_trader)', OWN_WATT, OTHER))}\n"
        "      END IF;\n"
        "      IF NOT FOUND THEN\n",
    ),
)

_DAY_END = "    active_sell_orders = excluded.active_sell_orders;\n\n  -- the buckets"
_BUCKETS_END = "    trades = k.trades + excluded.trades;\nEND $fn$;"

RECORD = replaced(
    m0030.RECORD,
    ("  v_whole bigint;\nBEGIN", "  v_whole bigint;\n  v_rows bigint;\nBEGIN"),
    (
        _DAY_END,
        "    active_sell_orders = excluded.active_sell_orders\n"
        f"  WHERE (s.total_volume + excluded.total_volume > {LIMIT}\n"
        f"    OR s.notional + excluded.notional > {NOTIONAL_LIMIT}) IS NOT TRUE;\n"
        "  GET DIAGNOSTICS v_rows = ROW_COUNT;\n"
        "  IF v_rows = 0 THEN\n"
        f"    {_raise(_sql(MARKET))}\n"
        "  END IF;\n\n  -- the buckets",
    ),
    (
        _BUCKETS_END,
        "    trades = k.trades + excluded.trades\n"
        f"  WHERE (k.volume + excluded.volume > {LIMIT}) IS NOT TRUE;\n"
        "  GET DIAGNOSTICS v_rows = ROW_COUNT;\n"
        f"  IF v_rows < {len(CANDLE_SIZES)} THEN\n"
        f"    {_raise(_sql(MARKET))}\n"
        "  END IF;\nEND $fn$;",
    ),
)

_PLACE_HOLD = """        p_amount, v_available, tr.energy_reserved);
    END IF;
    v_hold := 0;
"""
PLACE = replaced(
    m0019.PLACE,
    (
        _PLACE_HOLD,
        _PLACE_HOLD.replace(
            "    v_hold := 0;\n",
            f"    IF tr.energy_reserved + p_amount > {LIMIT} THEN\n"
            f"      {_raise(_sql(OWN_HELD))}\n"
            "    END IF;\n    v_hold := 0;\n",
        ),
    ),
)

_AMEND_HOLD = """    UPDATE prosumers SET energy_reserved = prosumers.energy_reserved + v_more,
"""
AMEND = replaced(
    m0019.AMEND,
    (
        _AMEND_HOLD,
        f"    IF tr.energy_reserved + v_more > {LIMIT} THEN\n"
        f"      {_raise(_sql(OWN_HELD))}\n"
        f"    END IF;\n{_AMEND_HOLD}",
    ),
)


def up(database: Database) -> None:
    if backend_of(database) != "postgres":
        return
    cursor = database.cursor()  # no parameters: the texts' % signs are PL/pgSQL's own
    for text in (MATCH, RECORD, PLACE, AMEND):
        cursor.execute(text)
