"""PostgreSQL: a placement's server work, shorter under the market lock (issue 13).

Every statement of a placement function runs while the placement holds the market lock,
so with many writers the server's time per order is the serial part of the market.
Measured with `track_functions` on one writer (1,200 placements of
`benchmarks/_common.workload`): about 890 us of server CPU an order, of which:

- `energy_tui_json_text` (the audit events' JSON strings) took about 100 us: 8 calls an
  order at 13 us each. It is a one-line SQL function, but it was declared IMMUTABLE
  around `to_json`, which is only STABLE, so PostgreSQL could not inline it and ran
  it as a function call each time. Declared STABLE, it is inlined into the statement
  that uses it (`pg_stat_user_functions` no longer sees a call).
- `energy_tui_record_fills` sent two statements a fill (the trade and its
  `order_matched` event), then read and wrote the day's statistics and read and wrote
  each of the three candle buckets: 8 statements and more for one fill. It now sends
  four whatever the number of fills: the trades and the events each as one
  `INSERT ... SELECT` over the fills (in fill order, so ids and events keep their
  order), the day as one upsert and the three buckets as one upsert, with the same
  arithmetic as before (and as migration 0029's trigger does for a trade of the
  platform's): counts and volumes summed, notional exact, the VWAP half-even to 4
  places, high and low, a bucket's open by its lowest seq and close by its highest.

The rows written are the same: `tests/test_pg_function_differential.py` compares every
row with the Python path's. SQLite and MySQL: nothing to do.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of
from energy_tui.db.models import CANDLE_SIZES

JSON_TEXT = "ALTER FUNCTION energy_tui_json_text(text) STABLE"

# The fills come in as parallel arrays (energy_tui_match's), their seqs ascending.
_FILLS = (
    "unnest(p_fill_ids, p_maker_ids, p_maker_traders, p_amounts, p_prices, p_totals, "
    "p_fees, p_seqs) WITH ORDINALITY AS f(id, maker, trader, amount, price, total, fee, "
    "seq, i)"
)

RECORD = rf"""
CREATE OR REPLACE FUNCTION energy_tui_record_fills(
  p_order_id uuid, p_address text, p_side text, p_now timestamp, p_buys int, p_sells int,
  p_fill_ids uuid[], p_maker_ids uuid[], p_maker_traders text[], p_amounts numeric[],
  p_prices numeric[], p_totals numeric[], p_fees numeric[], p_seqs bigint[],
  p_user_id uuid, p_api_key_id uuid, p_ip text, p_label text)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  buying boolean := p_side = 'buy';
  n int := coalesce(array_length(p_fill_ids, 1), 0);
  v_whole bigint;
BEGIN
  IF n = 0 THEN
    INSERT INTO market_statistics (date, total_trades, total_volume, notional,
      average_price, highest_price, lowest_price, active_buy_orders, active_sell_orders,
      created_at) VALUES (p_now::date, 0, 0, 0, 0, 0, 0, p_buys, p_sells, p_now)
    ON CONFLICT (date) DO UPDATE SET active_buy_orders = excluded.active_buy_orders,
      active_sell_orders = excluded.active_sell_orders;
    RETURN;
  END IF;

  INSERT INTO energy_trades (id, buy_order_id, sell_order_id, buyer_address,
    seller_address, energy_amount, price_per_kwh, total_price, executed_at, fee,
    buyer_total, taker_side, seq)
  SELECT f.id, CASE WHEN buying THEN p_order_id ELSE f.maker END,
    CASE WHEN buying THEN f.maker ELSE p_order_id END,
    CASE WHEN buying THEN p_address ELSE f.trader END,
    CASE WHEN buying THEN f.trader ELSE p_address END,
    f.amount, f.price, f.total, p_now, f.fee, f.total + f.fee, p_side, f.seq
  FROM {_FILLS} ORDER BY f.i;

  INSERT INTO audit_logs (created_at, event_type, user_id, api_key_id, ip_address,
    event_data, actor, outcome)
  SELECT p_now, 'order_matched', p_user_id, p_api_key_id, p_ip,
    '{{"amount": ' || energy_tui_json_text(f.amount::text)
    || ', "buyer": ' || energy_tui_json_text(CASE WHEN buying THEN p_address ELSE f.trader END)
    || ', "price": ' || energy_tui_json_text(f.price::text)
    || ', "seller": ' || energy_tui_json_text(CASE WHEN buying THEN f.trader ELSE p_address END)
    || ', "trade_id": ' || energy_tui_json_text(f.id::text) || '}}',
    p_label, 'success'
  FROM {_FILLS} ORDER BY f.i;

  -- the day (stats.record): a first trade of the day sets its high and low
  INSERT INTO market_statistics AS s (date, total_trades, total_volume, notional,
    average_price, highest_price, lowest_price, active_buy_orders, active_sell_orders,
    created_at)
  SELECT p_now::date, n, sum(f.amount), sum(f.amount * f.price),
    CASE WHEN sum(f.amount) <> 0
      THEN energy_tui_div_half_even(sum(f.amount * f.price), sum(f.amount), 4) ELSE 0 END,
    max(f.price), min(f.price), p_buys, p_sells, p_now
  FROM unnest(p_amounts, p_prices) AS f(amount, price)
  ON CONFLICT (date) DO UPDATE SET
    total_trades = s.total_trades + excluded.total_trades,
    total_volume = s.total_volume + excluded.total_volume,
    notional = s.notional + excluded.notional,
    average_price = CASE WHEN s.total_volume + excluded.total_volume <> 0
      THEN energy_tui_div_half_even(s.notional + excluded.notional,
        s.total_volume + excluded.total_volume, 4) ELSE 0 END,
    highest_price = CASE WHEN s.total_trades = 0 THEN excluded.highest_price
      ELSE GREATEST(s.highest_price, excluded.highest_price) END,
    lowest_price = CASE WHEN s.total_trades = 0 THEN excluded.lowest_price
      ELSE LEAST(s.lowest_price, excluded.lowest_price) END,
    active_buy_orders = excluded.active_buy_orders,
    active_sell_orders = excluded.active_sell_orders;

  -- the buckets (candles.record): the fills' seqs ascend, so the first opens and the
  -- last closes what they start; an existing bucket keeps an earlier open
  v_whole := floor(extract(epoch FROM p_now))::bigint;
  INSERT INTO market_candles AS k (seconds, bucket_start, open_price, high_price,
    low_price, close_price, volume, trades, first_seq, last_seq)
  SELECT z.size, timestamp '1970-01-01' + make_interval(secs => v_whole - mod(v_whole, z.size)),
    p_prices[1], b.high, b.low, p_prices[n], b.volume, n, p_seqs[1], p_seqs[n]
  FROM unnest(ARRAY{list(CANDLE_SIZES)}) AS z(size),
    (SELECT max(f.price) AS high, min(f.price) AS low, sum(f.amount) AS volume
     FROM unnest(p_prices, p_amounts) AS f(price, amount)) AS b
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
    trades = k.trades + excluded.trades;
END $fn$;
"""


def up(database: Database) -> None:
    if backend_of(database) != "postgres":
        return
    cursor = database.cursor()  # no parameters: the texts' % signs are PL/pgSQL's own
    for text in (JSON_TEXT, RECORD):
        cursor.execute(text)
