"""A trade the platform's other services insert counts in the day's statistics and the
candle buckets, as a trade of ours does.

Step 0024 gave such a trade (inserted with seq 0) the market's next trade seq, and left
`market_statistics` and `market_candles` to `energy-tui stats rebuild`: until then the
statistics screen, the candles and `stats rebuild` disagreed with the trades list.
DESIGN §3 has the statistics follow from the trades ("updated in the same transaction
as each trade"; rebuild "must agree exactly"), whoever wrote the trade, and the seed
note's services write no statistics of their own (its `market_statistics` has no
`notional`, so they could not keep a true VWAP). So the trigger of 0024 now also does
what our settlement does for one fill (`stats.record`, `candles.record`, PostgreSQL's
`energy_tui_record_fills`): adds the trade to the day of its `executed_at` (count,
volume, exact notional, VWAP rounded half-even to 4 places, high, low; a new day's row
takes the open-order counts from `market_state`, as a placement writes them), and to
its 15 min, 1 h and 1 day buckets (open and close by seq: the new trade has the
highest, so it closes the bucket, and opens it when it is the first). It runs after
the `market_state` row is locked (the seq), so it is serialized with every placement.

Trades of ours are inserted with their seq set and never reach it. A trade the
platform updates or deletes afterwards is not followed: `stats rebuild` corrects that.

Each backend's trigger keeps 0024's name, `energy_trades_seq`, and replaces it: a
later step that rebuilds `market_state`, `energy_trades`, `market_statistics` or
`market_candles` on SQLite must drop it first and make it again with this step's `up`
(not 0024's, which would lose the statistics). Amounts stay exact: PostgreSQL's and
MySQL's DECIMAL arithmetic is exact; SQLite's columns hold numbers, so its trigger sums
scaled integers (as `db.exact` does) and divides once to store.
"""

from __future__ import annotations

from collections.abc import Callable

from peewee import Database

from energy_tui.db.connect import backend_of
from energy_tui.db.migrations.m0024_platform_trade_seq import _NEXT, _PAID
from energy_tui.db.models import CANDLE_SIZES

_STATS_COLUMNS = (
    "date, total_trades, total_volume, notional, average_price, highest_price, "
    "lowest_price, active_buy_orders, active_sell_orders, created_at"
)
_CANDLE_COLUMNS = (
    "seconds, bucket_start, open_price, high_price, low_price, close_price, volume, "
    "trades, first_seq, last_seq"
)


def up(database: Database) -> None:
    _TRIGGERS[backend_of(database)](database)


# --- PostgreSQL ------------------------------------------------------------------------

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION energy_tui_trade_seq() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  v_buys int;
  v_sells int;
  v_whole bigint;
  size int;
BEGIN
  {_NEXT} RETURNING trade_seq, open_buy_orders, open_sell_orders
    INTO NEW.seq, v_buys, v_sells;
  IF {_PAID} THEN NEW.buyer_total := NEW.total_price + NEW.fee; END IF;
  INSERT INTO market_statistics AS s ({_STATS_COLUMNS})
  VALUES (NEW.executed_at::date, 1, NEW.energy_amount, NEW.energy_amount * NEW.price_per_kwh,
    CASE WHEN NEW.energy_amount <> 0 THEN energy_tui_div_half_even(
      NEW.energy_amount * NEW.price_per_kwh, NEW.energy_amount, 4) ELSE 0 END,
    NEW.price_per_kwh, NEW.price_per_kwh, v_buys, v_sells, NEW.executed_at)
  ON CONFLICT (date) DO UPDATE SET
    total_trades = s.total_trades + 1,
    total_volume = s.total_volume + excluded.total_volume,
    notional = s.notional + excluded.notional,
    average_price = CASE WHEN s.total_volume + excluded.total_volume <> 0
      THEN energy_tui_div_half_even(s.notional + excluded.notional,
        s.total_volume + excluded.total_volume, 4) ELSE 0 END,
    highest_price = CASE WHEN s.total_trades = 0 THEN excluded.highest_price
      ELSE GREATEST(s.highest_price, excluded.highest_price) END,
    lowest_price = CASE WHEN s.total_trades = 0 THEN excluded.lowest_price
      ELSE LEAST(s.lowest_price, excluded.lowest_price) END;
  v_whole := floor(extract(epoch FROM NEW.executed_at))::bigint;
  FOREACH size IN ARRAY ARRAY{list(CANDLE_SIZES)} LOOP
    INSERT INTO market_candles AS k ({_CANDLE_COLUMNS})
    VALUES (size, timestamp '1970-01-01' + make_interval(secs => v_whole - mod(v_whole, size)),
      NEW.price_per_kwh, NEW.price_per_kwh, NEW.price_per_kwh, NEW.price_per_kwh,
      NEW.energy_amount, 1, NEW.seq, NEW.seq)
    ON CONFLICT (seconds, bucket_start) DO UPDATE SET
      open_price = CASE WHEN excluded.first_seq < k.first_seq THEN excluded.open_price
        ELSE k.open_price END,
      first_seq = LEAST(k.first_seq, excluded.first_seq),
      close_price = CASE WHEN excluded.last_seq >= k.last_seq THEN excluded.close_price
        ELSE k.close_price END,
      last_seq = GREATEST(k.last_seq, excluded.last_seq),
      high_price = GREATEST(k.high_price, excluded.high_price),
      low_price = LEAST(k.low_price, excluded.low_price),
      volume = k.volume + excluded.volume,
      trades = k.trades + 1;
  END LOOP;
  RETURN NEW;
END $fn$
"""


def _postgres(database: Database) -> None:
    database.execute_sql(_PG_FUNCTION)
    database.execute_sql("DROP TRIGGER IF EXISTS energy_trades_seq ON energy_trades")
    database.execute_sql(
        "CREATE TRIGGER energy_trades_seq BEFORE INSERT ON energy_trades FOR EACH ROW "
        "WHEN (NEW.seq = 0) EXECUTE FUNCTION energy_tui_trade_seq()"
    )


# --- MySQL / MariaDB -------------------------------------------------------------------

# Seconds since the epoch of the trade's naive-UTC time, whatever the inserting
# session's time_zone (UNIX_TIMESTAMP would read it in that zone).
_MYSQL_WHOLE = "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', NEW.executed_at)"


def _mysql_candle(size: int) -> str:
    start = f"TIMESTAMP '1970-01-01 00:00:00' + INTERVAL (v_whole - MOD(v_whole, {size})) SECOND"
    # ON DUPLICATE KEY UPDATE assigns left to right, each seeing the ones before it:
    # open before first_seq, close before last_seq.
    return (
        f"INSERT INTO market_candles ({_CANDLE_COLUMNS}) VALUES ({size}, {start}, "
        "NEW.price_per_kwh, NEW.price_per_kwh, NEW.price_per_kwh, NEW.price_per_kwh, "
        "NEW.energy_amount, 1, NEW.seq, NEW.seq) ON DUPLICATE KEY UPDATE "
        "open_price = IF(VALUES(first_seq) < first_seq, VALUES(open_price), open_price), "
        "first_seq = LEAST(first_seq, VALUES(first_seq)), "
        "close_price = IF(VALUES(last_seq) >= last_seq, VALUES(close_price), close_price), "
        "last_seq = GREATEST(last_seq, VALUES(last_seq)), "
        "high_price = GREATEST(high_price, VALUES(high_price)), "
        "low_price = LEAST(low_price, VALUES(low_price)), "
        "volume = volume + VALUES(volume), trades = trades + 1;"
    )


_MYSQL_TRIGGER = f"""
CREATE TRIGGER energy_trades_seq BEFORE INSERT ON energy_trades FOR EACH ROW
BEGIN
  DECLARE v_found INT;
  DECLARE v_buys INT;
  DECLARE v_sells INT;
  DECLARE d_trades BIGINT;
  DECLARE d_volume DECIMAL(15,2);
  DECLARE d_notional DECIMAL(24,6);
  DECLARE d_high DECIMAL(10,4);
  DECLARE d_low DECIMAL(10,4);
  DECLARE v_n DECIMAL(40,0);
  DECLARE v_v DECIMAL(40,0);
  DECLARE v_q DECIMAL(40,0);
  DECLARE v_r DECIMAL(40,0);
  DECLARE v_seq BIGINT;
  DECLARE v_whole BIGINT;
  IF NEW.seq = 0 THEN
    {_NEXT};
    SELECT trade_seq, open_buy_orders, open_sell_orders INTO v_seq, v_buys, v_sells
      FROM market_state WHERE id = 1;
    SET NEW.seq = v_seq;
    IF {_PAID} THEN SET NEW.buyer_total = NEW.total_price + NEW.fee; END IF;
    -- a locking read: the latest row, not the snapshot of an inserting session in
    -- REPEATABLE READ (MySQL's default), which would lose a placement's update
    SELECT COUNT(*), COALESCE(MAX(total_trades), 0), COALESCE(MAX(total_volume), 0),
        COALESCE(MAX(notional), 0), COALESCE(MAX(highest_price), 0),
        COALESCE(MAX(lowest_price), 0)
      INTO v_found, d_trades, d_volume, d_notional, d_high, d_low
      FROM market_statistics WHERE date = DATE(NEW.executed_at) FOR UPDATE;
    IF d_trades = 0 THEN
      SET d_high = NEW.price_per_kwh, d_low = NEW.price_per_kwh;
    ELSE
      SET d_high = GREATEST(d_high, NEW.price_per_kwh), d_low = LEAST(d_low, NEW.price_per_kwh);
    END IF;
    SET d_trades = d_trades + 1, d_volume = d_volume + NEW.energy_amount,
      d_notional = d_notional + NEW.energy_amount * NEW.price_per_kwh;
    -- VWAP x 10^4 = (notional x 10^6) / (volume x 10^2), rounded half-even in integers
    -- (DECIMAL division rounds its last digit half-up, so the quotient is corrected)
    SET v_n = d_notional * 1000000, v_v = d_volume * 100, v_q = 0;
    IF v_v <> 0 THEN
      SET v_q = FLOOR(v_n / v_v);
      SET v_r = v_n - v_q * v_v;
      IF v_r < 0 THEN SET v_q = v_q - 1, v_r = v_r + v_v; END IF;
      IF v_r >= v_v THEN SET v_q = v_q + 1, v_r = v_r - v_v; END IF;
      IF 2 * v_r > v_v OR (2 * v_r = v_v AND MOD(v_q, 2) = 1) THEN SET v_q = v_q + 1; END IF;
    END IF;
    IF v_found = 0 THEN
      INSERT INTO market_statistics ({_STATS_COLUMNS}) VALUES (DATE(NEW.executed_at),
        d_trades, d_volume, d_notional, v_q * 0.0001, d_high, d_low, v_buys, v_sells,
        NEW.executed_at);
    ELSE
      UPDATE market_statistics SET total_trades = d_trades, total_volume = d_volume,
        notional = d_notional, average_price = v_q * 0.0001, highest_price = d_high,
        lowest_price = d_low WHERE date = DATE(NEW.executed_at);
    END IF;
    SET v_whole = {_MYSQL_WHOLE};
    {" ".join(_mysql_candle(size) for size in CANDLE_SIZES)}
  END IF;
END
"""


def _mysql(database: Database) -> None:
    database.execute_sql("DROP TRIGGER IF EXISTS energy_trades_seq")
    database.execute_sql(_MYSQL_TRIGGER)


# --- SQLite ----------------------------------------------------------------------------


def _scaled(column: str, places: int) -> str:
    """The exact integer `column` x 10^places (SQLite holds the decimal as a number)."""
    return f"CAST(round({column} * {10**places}) AS INTEGER)"


_SEQ = "(SELECT trade_seq FROM market_state WHERE id = 1)"
_NOTIONAL = f"({_scaled('NEW.energy_amount', 2)} * {_scaled('NEW.price_per_kwh', 4)}) / 1000000.0"
_N, _V = _scaled("notional", 6), _scaled("total_volume", 2)
_AVERAGE = (
    f"CASE WHEN {_V} = 0 THEN 0 ELSE ({_N} / {_V} + CASE WHEN 2 * ({_N} % {_V}) > {_V} "
    f"OR (2 * ({_N} % {_V}) = {_V} AND ({_N} / {_V}) % 2 = 1) THEN 1 ELSE 0 END) "
    "/ 10000.0 END"
)


def _sqlite_candle(size: int) -> str:
    whole = "CAST(strftime('%s', NEW.executed_at) AS INTEGER)"
    start = f"datetime({whole} - {whole} % {size}, 'unixepoch')"
    return (
        f"INSERT INTO market_candles ({_CANDLE_COLUMNS}) VALUES ({size}, {start}, "
        "NEW.price_per_kwh, NEW.price_per_kwh, NEW.price_per_kwh, NEW.price_per_kwh, "
        f"NEW.energy_amount, 1, {_SEQ}, {_SEQ}) ON CONFLICT (seconds, bucket_start) DO UPDATE "
        "SET open_price = CASE WHEN excluded.first_seq < first_seq THEN excluded.open_price "
        "ELSE open_price END, first_seq = min(first_seq, excluded.first_seq), "
        "close_price = CASE WHEN excluded.last_seq >= last_seq THEN excluded.close_price "
        "ELSE close_price END, last_seq = max(last_seq, excluded.last_seq), "
        "high_price = max(high_price, excluded.high_price), "
        "low_price = min(low_price, excluded.low_price), "
        f"volume = ({_scaled('volume', 2)} + {_scaled('excluded.volume', 2)}) / 100.0, "
        "trades = trades + 1;"
    )


_SQLITE_TRIGGER = f"""
CREATE TRIGGER energy_trades_seq AFTER INSERT ON energy_trades FOR EACH ROW
WHEN NEW.seq = 0 BEGIN
  {_NEXT};
  UPDATE energy_trades SET seq = {_SEQ},
    buyer_total = CASE WHEN {_PAID} THEN round(NEW.total_price + NEW.fee, 2)
    ELSE NEW.buyer_total END WHERE rowid = NEW.rowid;
  INSERT INTO market_statistics ({_STATS_COLUMNS})
    SELECT date(NEW.executed_at), 1, NEW.energy_amount, {_NOTIONAL}, 0, NEW.price_per_kwh,
      NEW.price_per_kwh, open_buy_orders, open_sell_orders, NEW.executed_at
    FROM market_state WHERE id = 1
  ON CONFLICT (date) DO UPDATE SET
    highest_price = CASE WHEN total_trades = 0 THEN excluded.highest_price
      ELSE max(highest_price, excluded.highest_price) END,
    lowest_price = CASE WHEN total_trades = 0 THEN excluded.lowest_price
      ELSE min(lowest_price, excluded.lowest_price) END,
    total_trades = total_trades + 1,
    total_volume = ({_V} + {_scaled("excluded.total_volume", 2)}) / 100.0,
    notional = ({_N} + {_scaled("excluded.notional", 6)}) / 1000000.0;
  UPDATE market_statistics SET average_price = {_AVERAGE} WHERE date = date(NEW.executed_at);
  {" ".join(_sqlite_candle(size) for size in CANDLE_SIZES)}
END
"""


def _sqlite(database: Database) -> None:
    database.execute_sql("DROP TRIGGER IF EXISTS energy_trades_seq")
    database.execute_sql(_SQLITE_TRIGGER)


_TRIGGERS: dict[str, Callable[[Database], None]] = {
    "postgres": _postgres,
    "mysql": _mysql,
    "sqlite": _sqlite,
}
