"""PostgreSQL: a fill's two balance updates find their row by index, not by reading
every prosumer.

`energy_tui_match` (0019, with 0031's limits) updated the buyer and the seller with
`WHERE CASE WHEN buying THEN address = p_trader ELSE lower(address) = lower(...) END`.
PL/pgSQL keeps a generic plan for each statement after a few calls, and a generic plan
cannot pick an index for a condition that is one of two by a parameter: both updates
read the whole `prosumers` table, twice a fill (seen with auto_explain's nested plans:
`Seq Scan on prosumers`, Filter: CASE WHEN ...). A fill's cost grew with the number of
prosumers, not with the book.

Now each names its row as `lower(address) = lower(CASE ... END)`: the side is chosen
in the value, and the `prosumers_address_lower` index (addresses are one account in
any case, migration 0007) finds it. The same row as before: the taker's `p_trader` is
its stored address, and no two addresses differ only in case.

The text is 0031's with the two conditions replaced exactly; a text that no longer
holds them fails here, not silently. SQLite and MySQL: nothing to do (the Python
ledger updates by the stored address).
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of
from energy_tui.db.migrations import m0031_amount_limits as m0031

_BUYER_ROW = (
    "      WHERE CASE WHEN buying THEN address = p_trader\n"
    "        ELSE lower(address) = lower(m.trader_address) END\n",
    "      WHERE lower(address) = lower(CASE WHEN buying THEN p_trader\n"
    "        ELSE m.trader_address END)\n",
)
_SELLER_ROW = (
    "      WHERE CASE WHEN buying THEN lower(address) = lower(m.trader_address)\n"
    "        ELSE address = p_trader END\n",
    "      WHERE lower(address) = lower(CASE WHEN buying THEN m.trader_address\n"
    "        ELSE p_trader END)\n",
)

MATCH = m0031.replaced(m0031.MATCH, _BUYER_ROW, _SELLER_ROW)


def up(database: Database) -> None:
    if backend_of(database) != "postgres":
        return
    database.cursor().execute(MATCH)  # no parameters: the text's % signs are PL/pgSQL's
