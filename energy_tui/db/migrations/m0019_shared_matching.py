"""PostgreSQL: one matching loop for placing and amending, and today's safety rules in
the server functions: the shown cap, the bounded cancel-all and the fat-finger guard
(issue 13).

Migrations 0014 (place) and 0017 (amend) each carried its own copy of the matching
loop and of the writing of trades, statistics and candles. This step installs them
once, as `energy_tui_match` (price-time matching at the makers' prices with the
settlement of each fill: `orders._match`, `_pay_from_reservation`, `_save_maker`) and
`energy_tui_record_fills` (the trades, their `order_matched` audit events, the day's
statistics and the candle buckets: `stats.record`, `candles.record`), and replaces
`energy_tui_place_order` and `energy_tui_amend_order` by versions that call them.

It also gives the functions the rules the Python path alone applied, so that the
app's own market orders, cancel-alls and unconfirmed amendments are one call too:

- `energy_tui_place_order(..., p_shown_cap boolean DEFAULT false)`: a market order
  placed at the default cap the user was shown (`OrderRequest.shown_cap`) is placed at
  it only while the price band around the reference read under the market lock still
  contains it; else the refusal `orders._confirmed_cap` gives (both figures), nothing
  written. The 13-argument call of 0014 works unchanged (the new parameter is last, with
  a default); the old function is dropped so that such a call is not ambiguous.
- `energy_tui_cancel_all(..., p_up_to_placed_seq bigint DEFAULT NULL)`: only the orders
  placed up to that bound are cancelled; the others are counted in `left_newer`, which
  the audit event carries as in Python. Its rows gain `row_kind` ('order' for each
  order cancelled) and a last 'total' row with `left_newer` (so the count comes back when
  nothing was cancelled): a new return type, so the function is dropped and created.
- `energy_tui_amend_order` judges an unconfirmed amendment (a new price or a larger
  amount) by the fat-finger guard itself (`energy_tui_guard`: `guard.reference_price`
  and `guard.assess`, wording and rounding included) instead of refusing it with
  `ET009` for the Python path to judge. A stop is SQLSTATE `ET005`, the guard's message,
  and the guard's figures as JSON in the DETAIL (`market.server` builds the same
  `guard.Unconfirmed` and `Caution` from them); nothing is written.

SQLite and MySQL: nothing to do. Forward-only, as every step; m0014 and m0017 stay as
they landed and this step replaces their functions on every database that runs it.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of

# orders._match for a taker (a new order, or an amended one that may have filled in
# part): the crossing makers in price-time order, each fill settled at once. The
# taker's fill, hold, the open counts and the trade seq go in and come back changed;
# the fills come back as arrays for energy_tui_record_fills.
MATCH = r"""
CREATE OR REPLACE FUNCTION energy_tui_match(
  p_side text, p_trader text, p_amount numeric, p_price numeric, p_capped boolean,
  p_fee_rate numeric, p_operator text, p_now timestamp,
  INOUT filled numeric, INOUT reserved numeric, INOUT buys int, INOUT sells int,
  INOUT trade_seq bigint,
  OUT held_out boolean, OUT dropped int, OUT fill_ids uuid[], OUT maker_ids uuid[],
  OUT maker_traders text[], OUT amounts numeric[], OUT prices numeric[],
  OUT totals numeric[], OUT fees numeric[], OUT seqs bigint[])
LANGUAGE plpgsql AS $fn$
DECLARE
  buying boolean := p_side = 'buy';
  makers refcursor;
  m record;
  m_rem numeric;
  m_filled numeric;
  m_reserved numeric;
  v_rem numeric;
  f_amount numeric;
  f_total numeric;
  f_fee numeric;
  b_reserved numeric;
  b_rem_after numeric;
  b_price numeric;
  b_left numeric;
  b_needed numeric;
  b_hold numeric;
  b_avail numeric;
  x numeric;
  n int := 0;
BEGIN
  held_out := false;
  dropped := 0;  -- makers cancelled on the way: they could not pay a rounding cent
  fill_ids := '{}'; maker_ids := '{}'; maker_traders := '{}'; amounts := '{}';
  prices := '{}'; totals := '{}'; fees := '{}'; seqs := '{}';
  IF buying THEN
    OPEN makers FOR SELECT e.id, e.trader_address, e.energy_amount, e.price_per_kwh,
      e.filled_amount, e.watt_reserved FROM energy_orders e
      WHERE e.is_active AND e.order_type = 'sell' AND e.price_per_kwh <= p_price
      ORDER BY e.price_per_kwh ASC, e.seq ASC;
  ELSE
    OPEN makers FOR SELECT e.id, e.trader_address, e.energy_amount, e.price_per_kwh,
      e.filled_amount, e.watt_reserved FROM energy_orders e
      WHERE e.is_active AND e.order_type = 'buy' AND e.price_per_kwh >= p_price
      ORDER BY e.price_per_kwh DESC, e.seq ASC;
  END IF;
  LOOP
    v_rem := p_amount - filled;
    EXIT WHEN NOT v_rem > 0;
    FETCH makers INTO m;
    EXIT WHEN NOT FOUND;
    m_rem := m.energy_amount - m.filled_amount;
    m_filled := m.filled_amount;
    m_reserved := m.watt_reserved;
    f_amount := CASE WHEN m_rem < v_rem THEN m_rem ELSE v_rem END;
    f_total := energy_tui_trade_total(f_amount, m.price_per_kwh);
    f_fee := energy_tui_fee(f_total, p_fee_rate);
    -- a market buy spends at most what it holds (amount x cap + fee)
    IF p_capped AND f_total + f_fee > reserved THEN
      held_out := true;
      EXIT;
    END IF;
    -- the buyer pays out of its order's hold (orders._pay_from_reservation)
    IF buying THEN
      b_reserved := reserved; b_rem_after := v_rem - f_amount; b_price := p_price;
      SELECT p.watt_tokens - p.watt_reserved INTO b_avail FROM prosumers p
        WHERE p.address = p_trader;
    ELSE
      b_reserved := m_reserved; b_rem_after := m_rem - f_amount; b_price := m.price_per_kwh;
      SELECT p.watt_tokens - p.watt_reserved INTO b_avail FROM prosumers p
        WHERE lower(p.address) = lower(m.trader_address) FOR UPDATE;
    END IF;
    b_left := b_reserved - (f_total + f_fee);
    IF b_left < 0 AND -b_left > b_avail THEN
      IF buying THEN
        RAISE EXCEPTION USING ERRCODE = 'ET002', HINT = 'amount', MESSAGE = format(
          'settling this order needs %s WATT more than available (per-trade rounding): '
          'deposit a little more or lower the amount', -b_left - b_avail);
      END IF;
      -- a buyer on the book that cannot pay its rounding cent leaves it
      UPDATE prosumers SET watt_reserved = prosumers.watt_reserved - m_reserved,
        updated_at = p_now WHERE lower(address) = lower(m.trader_address);
      buys := buys - 1;
      dropped := dropped + 1;
      UPDATE energy_orders SET filled_amount = m_filled, watt_reserved = 0,
        updated_at = p_now, status = 'cancelled', is_active = false, status_reason =
        'its owner could not pay the rounding cent of its next trade (each trade''s price '
        'and fee are rounded to the cent): cancelled by the market'
        WHERE energy_orders.id = m.id;
      CONTINUE;
    END IF;
    IF b_rem_after <> 0 THEN
      b_needed := energy_tui_buyer_cost(b_rem_after, b_price, p_fee_rate);
    ELSE
      b_needed := 0;
    END IF;
    x := CASE WHEN b_needed < b_left THEN b_needed ELSE b_left END;
    b_hold := CASE WHEN x > 0 THEN x ELSE 0 END;
    UPDATE prosumers SET watt_reserved = prosumers.watt_reserved + (b_hold - b_reserved),
      watt_tokens = prosumers.watt_tokens - (f_total + f_fee),
      energy_bought = prosumers.energy_bought + f_amount, updated_at = p_now
      WHERE CASE WHEN buying THEN address = p_trader
        ELSE lower(address) = lower(m.trader_address) END;
    UPDATE prosumers SET watt_tokens = prosumers.watt_tokens + f_total,
      energy_sold = prosumers.energy_sold + f_amount,
      energy_reserved = prosumers.energy_reserved - f_amount, updated_at = p_now
      WHERE CASE WHEN buying THEN lower(address) = lower(m.trader_address)
        ELSE address = p_trader END;
    IF buying THEN
      reserved := b_hold;
    ELSE
      m_reserved := b_hold;
    END IF;
    filled := filled + f_amount;
    m_filled := m_filled + f_amount;
    IF f_fee <> 0 THEN
      UPDATE prosumers SET watt_tokens = prosumers.watt_tokens + f_fee, updated_at = p_now
        WHERE lower(address) = lower(p_operator);
      IF NOT FOUND THEN
        INSERT INTO prosumers (address, name, energy_generated, energy_consumed,
          grid_tokens, watt_tokens, created_at, updated_at, watt_reserved, energy_bought,
          energy_sold, energy_reserved, kind)
        VALUES (p_operator, 'Grid operator', 0, 0, 0, f_fee, p_now, p_now,
          0, 0, 0, 0, 'grid_operator');
      END IF;
    END IF;
    trade_seq := trade_seq + 1;
    n := n + 1;
    fill_ids[n] := gen_random_uuid();
    maker_ids[n] := m.id;
    maker_traders[n] := m.trader_address;
    amounts[n] := f_amount;
    prices[n] := m.price_per_kwh;
    totals[n] := f_total;
    fees[n] := f_fee;
    seqs[n] := trade_seq;
    -- the maker: filled, or still resting (orders._save_maker)
    IF m.energy_amount - m_filled = 0 THEN
      IF NOT buying THEN  -- a buy maker: its rest of the hold goes back
        UPDATE prosumers SET watt_reserved = prosumers.watt_reserved - m_reserved,
          updated_at = p_now WHERE lower(address) = lower(m.trader_address);
        buys := buys - 1;
      ELSE
        sells := sells - 1;
      END IF;
      UPDATE energy_orders SET filled_amount = m_filled, watt_reserved = 0,
        updated_at = p_now, status = 'filled', is_active = false, status_reason = NULL
        WHERE energy_orders.id = m.id;
    ELSE
      UPDATE energy_orders SET filled_amount = m_filled, watt_reserved = m_reserved,
        updated_at = p_now, status = 'partially_filled', is_active = true,
        status_reason = NULL WHERE energy_orders.id = m.id;
    END IF;
  END LOOP;
  CLOSE makers;
END $fn$;
"""

# The trades of a taker's fills (as energy_tui_match returned them), an `order_matched`
# event each, the day's statistics (with the open counts) and the candle buckets
# (orders._write_fills, stats.record, candles.record). With no fills: the open counts.
RECORD = r"""
CREATE OR REPLACE FUNCTION energy_tui_record_fills(
  p_order_id uuid, p_address text, p_side text, p_now timestamp, p_buys int, p_sells int,
  p_fill_ids uuid[], p_maker_ids uuid[], p_maker_traders text[], p_amounts numeric[],
  p_prices numeric[], p_totals numeric[], p_fees numeric[], p_seqs bigint[],
  p_user_id uuid, p_api_key_id uuid, p_ip text, p_label text)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  buying boolean := p_side = 'buy';
  n int := coalesce(array_length(p_fill_ids, 1), 0);
  i int;
  v_day date := p_now::date;
  d record;
  d_found boolean;
  d_trades bigint;
  d_volume numeric;
  d_notional numeric;
  d_high numeric;
  d_low numeric;
  size int;
  v_whole bigint;
  v_start timestamp;
  c record;
  c_open numeric; c_high numeric; c_low numeric; c_close numeric; c_volume numeric;
  c_trades bigint; c_first bigint; c_last bigint;
  c_new boolean;
BEGIN
  FOR i IN 1 .. n LOOP
    INSERT INTO energy_trades (id, buy_order_id, sell_order_id, buyer_address,
      seller_address, energy_amount, price_per_kwh, total_price, executed_at, fee,
      buyer_total, taker_side, seq)
    VALUES (p_fill_ids[i], CASE WHEN buying THEN p_order_id ELSE p_maker_ids[i] END,
      CASE WHEN buying THEN p_maker_ids[i] ELSE p_order_id END,
      CASE WHEN buying THEN p_address ELSE p_maker_traders[i] END,
      CASE WHEN buying THEN p_maker_traders[i] ELSE p_address END,
      p_amounts[i], p_prices[i], p_totals[i], p_now, p_fees[i],
      p_totals[i] + p_fees[i], p_side, p_seqs[i]);
    INSERT INTO audit_logs (created_at, event_type, user_id, api_key_id, ip_address,
      event_data, actor, outcome) VALUES (p_now, 'order_matched', p_user_id, p_api_key_id,
      p_ip, '{"amount": ' || energy_tui_json_text(p_amounts[i]::text)
      || ', "buyer": ' || energy_tui_json_text(
        CASE WHEN buying THEN p_address ELSE p_maker_traders[i] END)
      || ', "price": ' || energy_tui_json_text(p_prices[i]::text)
      || ', "seller": ' || energy_tui_json_text(
        CASE WHEN buying THEN p_maker_traders[i] ELSE p_address END)
      || ', "trade_id": ' || energy_tui_json_text(p_fill_ids[i]::text) || '}',
      p_label, 'success');
  END LOOP;

  IF n = 0 THEN
    INSERT INTO market_statistics (date, total_trades, total_volume, notional,
      average_price, highest_price, lowest_price, active_buy_orders, active_sell_orders,
      created_at) VALUES (v_day, 0, 0, 0, 0, 0, 0, p_buys, p_sells, p_now)
    ON CONFLICT (date) DO UPDATE SET active_buy_orders = excluded.active_buy_orders,
      active_sell_orders = excluded.active_sell_orders;
    RETURN;
  END IF;
  SELECT s.total_trades, s.total_volume, s.notional, s.highest_price, s.lowest_price
    INTO d FROM market_statistics s WHERE s.date = v_day;
  d_found := FOUND;
  IF d_found THEN
    d_trades := d.total_trades; d_volume := d.total_volume; d_notional := d.notional;
    d_high := d.highest_price; d_low := d.lowest_price;
  ELSE
    d_trades := 0; d_volume := 0; d_notional := 0; d_high := 0; d_low := 0;
  END IF;
  FOR i IN 1 .. n LOOP
    IF d_trades = 0 THEN
      d_high := p_prices[i]; d_low := p_prices[i];
    ELSE
      IF p_prices[i] > d_high THEN d_high := p_prices[i]; END IF;
      IF p_prices[i] < d_low THEN d_low := p_prices[i]; END IF;
    END IF;
    d_trades := d_trades + 1;
    d_volume := d_volume + p_amounts[i];
    d_notional := d_notional + p_amounts[i] * p_prices[i];
  END LOOP;
  IF NOT d_found THEN
    INSERT INTO market_statistics (date, total_trades, total_volume, notional,
      average_price, highest_price, lowest_price, active_buy_orders, active_sell_orders,
      created_at) VALUES (v_day, d_trades, d_volume, d_notional,
      CASE WHEN d_volume <> 0 THEN energy_tui_div_half_even(d_notional, d_volume, 4)
        ELSE 0 END, d_high, d_low, p_buys, p_sells, p_now);
  ELSE
    UPDATE market_statistics SET total_trades = d_trades, total_volume = d_volume,
      notional = d_notional, average_price = CASE WHEN d_volume <> 0
        THEN energy_tui_div_half_even(d_notional, d_volume, 4) ELSE 0 END,
      highest_price = d_high, lowest_price = d_low, active_buy_orders = p_buys,
      active_sell_orders = p_sells WHERE market_statistics.date = v_day;
  END IF;
  v_whole := floor(extract(epoch FROM p_now))::bigint;
  FOREACH size IN ARRAY ARRAY[900, 3600, 86400] LOOP
    v_start := timestamp '1970-01-01' + make_interval(secs => v_whole - mod(v_whole, size));
    SELECT k.open_price, k.high_price, k.low_price, k.close_price, k.volume, k.trades,
      k.first_seq, k.last_seq INTO c FROM market_candles k
      WHERE k.seconds = size AND k.bucket_start = v_start;
    c_new := NOT FOUND;
    IF c_new THEN
      c_open := p_prices[1]; c_high := p_prices[1]; c_low := p_prices[1];
      c_close := p_prices[1]; c_volume := p_amounts[1]; c_trades := 1;
      c_first := p_seqs[1]; c_last := p_seqs[1];
    ELSE
      c_open := c.open_price; c_high := c.high_price; c_low := c.low_price;
      c_close := c.close_price; c_volume := c.volume; c_trades := c.trades;
      c_first := c.first_seq; c_last := c.last_seq;
    END IF;
    FOR i IN CASE WHEN c_new THEN 2 ELSE 1 END .. n LOOP
      IF p_prices[i] > c_high THEN c_high := p_prices[i]; END IF;
      IF p_prices[i] < c_low THEN c_low := p_prices[i]; END IF;
      c_volume := c_volume + p_amounts[i];
      c_trades := c_trades + 1;
      IF p_seqs[i] < c_first THEN
        c_first := p_seqs[i]; c_open := p_prices[i];
      END IF;
      IF p_seqs[i] >= c_last THEN
        c_last := p_seqs[i]; c_close := p_prices[i];
      END IF;
    END LOOP;
    IF c_new THEN
      INSERT INTO market_candles (seconds, bucket_start, open_price, high_price, low_price,
        close_price, volume, trades, first_seq, last_seq) VALUES (size, v_start, c_open,
        c_high, c_low, c_close, c_volume, c_trades, c_first, c_last);
    ELSE
      UPDATE market_candles SET open_price = c_open, high_price = c_high,
        low_price = c_low, close_price = c_close, volume = c_volume, trades = c_trades,
        first_seq = c_first, last_seq = c_last
        WHERE market_candles.seconds = size AND market_candles.bucket_start = v_start;
    END IF;
  END LOOP;
END $fn$;
"""

PLACE = r"""
DROP FUNCTION IF EXISTS energy_tui_place_order(uuid, text, text, numeric, numeric, text,
  timestamp, text, timestamp, uuid, uuid, text, text);
CREATE OR REPLACE FUNCTION energy_tui_place_order(
  p_order_id uuid, p_address text, p_side text, p_amount numeric, p_price numeric,
  p_tif text, p_expires_at timestamp, p_kind text, p_now timestamp,
  p_user_id uuid, p_api_key_id uuid, p_ip text, p_label text,
  p_shown_cap boolean DEFAULT false)
RETURNS TABLE (
  row_kind text, id uuid, status text, amount numeric, price numeric, filled numeric,
  reserved numeric, reason text, seq bigint, expires_at timestamp,
  buy_order_id uuid, sell_order_id uuid, buyer_address text, seller_address text,
  total numeric, fee numeric, buyer_total numeric, taker_side text,
  lock_wait double precision)
LANGUAGE plpgsql AS $fn$
DECLARE
  st record;
  ex record;
  tr record;
  m record;
  mt record;
  makers refcursor;
  buying boolean := p_side = 'buy';
  other text := CASE WHEN p_side = 'buy' THEN 'sell' ELSE 'buy' END;
  v_price numeric := p_price;
  v_cap_note text := '';
  v_band_note text;
  v_ref numeric;
  v_source text;
  v_bid numeric;
  v_ask numeric;
  v_share numeric;
  v_low numeric;
  v_high numeric;
  v_needs text;
  v_buys int;
  v_sells int;
  v_order_seq bigint;
  v_trade_seq bigint;
  v_expires timestamp;
  v_own numeric;
  v_available numeric;
  v_hold numeric;
  v_total_now numeric;
  v_killed boolean := false;
  v_dropped integer := 0;
  v_reason text;
  v_status text;
  v_filled numeric := 0;
  v_reserved numeric;
  v_rem numeric;
  v_held_out boolean := false;
  fills_id uuid[] := '{}';
  fills_maker uuid[] := '{}';
  fills_maker_trader text[] := '{}';
  fills_amount numeric[] := '{}';
  fills_price numeric[] := '{}';
  fills_total numeric[] := '{}';
  fills_fee numeric[] := '{}';
  fills_seq bigint[] := '{}';
  n int;
  i int;
  v_data text;
  v_waited double precision;
BEGIN
  -- the market lock, the counters and the rules (sql.lock_state)
  SELECT * INTO st FROM market_state WHERE market_state.id = 1 FOR UPDATE;
  -- how long the lock took (the benchmarks' share of time waiting on it)
  v_waited := extract(epoch FROM clock_timestamp() - statement_timestamp());
  v_buys := st.open_buy_orders;
  v_sells := st.open_sell_orders;
  v_order_seq := st.order_seq;
  v_trade_seq := st.trade_seq;

  -- a market order without a cap: the band around the reference (orders.default_cap);
  -- a cap the user was shown: still inside that band now (orders._confirmed_cap)
  IF v_price IS NULL OR p_shown_cap THEN
    v_needs := format('a market %s needs a price cap (%s, %s per kWh)', p_side,
      CASE WHEN buying THEN '--max-price' ELSE '--min-price' END,
      CASE WHEN buying THEN 'the most it pays' ELSE 'the least it takes' END);
    IF st.price_band_percent <= 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'ET001', HINT = 'price', MESSAGE = v_needs ||
        ': the market''s price band (PRICE_BAND_PERCENT) is 0, so there is no default cap';
    END IF;
    SELECT t.price_per_kwh INTO v_ref FROM energy_trades t ORDER BY t.seq DESC LIMIT 1;
    IF FOUND THEN
      v_source := 'last trade';
    ELSE
      SELECT e.price_per_kwh INTO v_bid FROM energy_orders e WHERE e.is_active
        AND e.order_type = 'buy' AND (e.expires_at IS NULL OR e.expires_at > p_now)
        ORDER BY e.price_per_kwh DESC LIMIT 1;
      SELECT e.price_per_kwh INTO v_ask FROM energy_orders e WHERE e.is_active
        AND e.order_type = 'sell' AND (e.expires_at IS NULL OR e.expires_at > p_now)
        ORDER BY e.price_per_kwh ASC LIMIT 1;
      IF v_bid IS NULL OR v_ask IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'ET001', HINT = 'price', MESSAGE = v_needs ||
          ': there is no last trade and no bid and ask to set a default cap from';
      END IF;
      v_ref := energy_tui_half_even((v_bid + v_ask) / 2, 4);
      v_source := 'mid';
    END IF;
    IF v_ref <= 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'ET001', HINT = 'price',
        MESSAGE = v_needs || ': the reference price is 0';
    END IF;
    v_share := st.price_band_percent / 100;  -- money.band_cap, both ways
    v_high := round(floor(v_ref * (1 + v_share) * 10000) / 10000, 4);
    v_low := greatest(round(ceil(v_ref * (1 - v_share) * 10000) / 10000, 4), 0.0001);
    v_band_note := format('default cap: %s %s %s the %s%% price band', v_source, v_ref,
      CASE WHEN buying THEN '+' ELSE '-' END, trim_scale(st.price_band_percent));
    IF v_price IS NULL THEN
      v_price := CASE WHEN buying THEN v_high ELSE v_low END;
      v_cap_note := v_band_note;
    ELSIF NOT (v_low <= v_price AND v_price <= v_high) THEN
      RAISE EXCEPTION USING ERRCODE = 'ET001', HINT = 'price', MESSAGE = format(
        'the market moved: the default cap %s you confirmed is now outside the %s%% price '
        'band around the %s %s (%s to %s): nothing was placed; look at the new cap and '
        'place again', v_price, trim_scale(st.price_band_percent), v_source, v_ref,
        v_low, v_high);
    ELSE
      v_cap_note := 'the default cap shown when it was confirmed; '
        || replace(v_band_note, 'default cap', 'now');
    END IF;
  END IF;

  -- expire what is due (orders._expire_due), releasing what it holds
  SELECT * INTO ex FROM energy_tui_expire_due(p_now);
  v_buys := v_buys - ex.buys;
  v_sells := v_sells - ex.sells;

  -- the trader, locked
  SELECT * INTO tr FROM prosumers WHERE address = p_address FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'ET004',
      MESSAGE = format('no prosumer with address %s', energy_tui_repr(p_address));
  END IF;

  -- the minimum value at its own limit (orders.check_value)
  IF p_amount * v_price < st.min_order_value THEN
    RAISE EXCEPTION USING ERRCODE = 'ET001', HINT = 'amount', MESSAGE = format(
      '%s kWh at %s is worth less than %s WATT, the market''s minimum order value: '
      'raise the amount or the price', p_amount, v_price, st.min_order_value);
  END IF;

  IF p_expires_at IS NOT NULL OR p_tif <> 'gtc' THEN
    v_expires := p_expires_at;
  ELSIF st.order_ttl_hours = 0 THEN
    v_expires := NULL;
  ELSE
    v_expires := p_now + make_interval(hours => st.order_ttl_hours);
  END IF;

  -- never against one's own order (orders._refuse_self_cross)
  IF buying THEN
    SELECT MIN(e.price_per_kwh) INTO v_own FROM energy_orders e WHERE e.is_active
      AND e.order_type = 'sell' AND e.price_per_kwh <= v_price AND e.trader_address = p_address;
  ELSE
    SELECT MAX(e.price_per_kwh) INTO v_own FROM energy_orders e WHERE e.is_active
      AND e.order_type = 'buy' AND e.price_per_kwh >= v_price AND e.trader_address = p_address;
  END IF;
  IF v_own IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'ET001', HINT = 'price', MESSAGE = format(
      'this %s at %s would trade with your own %s order at %s: cancel that order first',
      p_side, v_price, other, v_own);
  END IF;

  -- the hold (orders._reserve)
  IF NOT buying THEN
    v_available := tr.energy_generated - tr.energy_consumed + tr.energy_bought
      - tr.energy_sold - tr.energy_reserved;
    IF p_amount > v_available THEN
      RAISE EXCEPTION USING ERRCODE = 'ET002', HINT = 'amount', MESSAGE = format(
        'cannot sell %s kWh: only %s kWh available (%s kWh held by open sell orders)',
        p_amount, v_available, tr.energy_reserved);
    END IF;
    v_hold := 0;
  ELSE
    v_hold := energy_tui_buyer_cost(p_amount, v_price, st.grid_fee_rate);
    IF v_hold > 9999999999999.99 THEN
      RAISE EXCEPTION USING ERRCODE = 'ET001', HINT = 'amount', MESSAGE = format(
        'order value %s WATT is beyond 9999999999999.99 WATT', v_hold);
    END IF;
    v_available := tr.watt_tokens - tr.watt_reserved;
    IF v_hold > v_available THEN
      RAISE EXCEPTION USING ERRCODE = 'ET002', HINT = 'amount', MESSAGE = format(
        'buying %s kWh at %s needs %s WATT (grid fee included): only %s WATT available',
        p_amount, v_price, v_hold, v_available);
    END IF;
  END IF;
  v_order_seq := v_order_seq + 1;
  v_reserved := v_hold;

  -- fill or kill: what the book would fill at once (orders._fillable_now)
  IF p_tif = 'fok' THEN
    v_total_now := 0;
    IF buying THEN
      OPEN makers FOR SELECT e.energy_amount, e.filled_amount FROM energy_orders e
        WHERE e.is_active AND e.order_type = other AND e.price_per_kwh <= v_price
        ORDER BY e.price_per_kwh ASC, e.seq ASC;
    ELSE
      OPEN makers FOR SELECT e.energy_amount, e.filled_amount FROM energy_orders e
        WHERE e.is_active AND e.order_type = other AND e.price_per_kwh >= v_price
        ORDER BY e.price_per_kwh DESC, e.seq ASC;
    END IF;
    LOOP
      EXIT WHEN v_total_now >= p_amount;
      FETCH makers INTO m;
      EXIT WHEN NOT FOUND;
      v_total_now := v_total_now + (m.energy_amount - m.filled_amount);
    END LOOP;
    CLOSE makers;
    IF v_total_now < p_amount THEN
      v_killed := true;
      v_reason := format('fill or kill: only %s of %s kWh could fill at once at %s or %s',
        v_total_now::numeric(20, 2), p_amount, v_price,
        CASE WHEN buying THEN 'less' ELSE 'more' END);
    END IF;
  END IF;

  IF NOT v_killed THEN
    IF buying THEN
      UPDATE prosumers SET watt_reserved = prosumers.watt_reserved + v_hold,
        updated_at = p_now WHERE address = tr.address;
    ELSE
      UPDATE prosumers SET energy_reserved = prosumers.energy_reserved + p_amount,
        updated_at = p_now WHERE address = tr.address;
    END IF;

    -- price-time matching at the makers' prices (orders._match)
    SELECT * INTO mt FROM energy_tui_match(p_side, tr.address, p_amount, v_price,
      p_kind = 'market' AND buying, st.grid_fee_rate, st.grid_operator_address, p_now,
      v_filled, v_reserved, v_buys, v_sells, v_trade_seq);
    v_filled := mt.filled; v_reserved := mt.reserved; v_buys := mt.buys;
    v_sells := mt.sells; v_trade_seq := mt.trade_seq; v_held_out := mt.held_out;
    v_dropped := mt.dropped;
    fills_id := mt.fill_ids; fills_maker := mt.maker_ids;
    fills_maker_trader := mt.maker_traders; fills_amount := mt.amounts;
    fills_price := mt.prices; fills_total := mt.totals; fills_fee := mt.fees;
    fills_seq := mt.seqs;
    v_rem := p_amount - v_filled;

    IF p_tif = 'fok' AND v_rem <> 0 AND v_held_out THEN
      RAISE EXCEPTION USING ERRCODE = 'ET001', MESSAGE = format(
        'fill or kill: %s of %s kWh could not fill within the %s WATT it holds (amount x '
        'cap + fee): each trade pays its own fee, rounded up to the cent: nothing was done',
        v_rem, p_amount, v_hold);
    END IF;
    IF p_tif = 'fok' AND v_rem <> 0 THEN  -- a sell: buy makers dropped (orders._fok_dropped)
      RAISE EXCEPTION USING ERRCODE = 'ET001', MESSAGE = format(
        'fill or kill: only %s of %s kWh could fill at once at %s or %s: %s %s on the book '
        'counted for the rest, but %s could not pay the rounding cent of the trade (each '
        'trade''s price and fee are rounded to the cent); nothing was done. The same order '
        'is refused again while %s cannot pay; an IOC or GTC sell trades what it can (and '
        'the market then cancels such a buy order)',
        v_filled::numeric(20, 2), p_amount, v_price,
        CASE WHEN buying THEN 'less' ELSE 'more' END, v_dropped,
        CASE WHEN v_dropped = 1 THEN 'buy order' ELSE 'buy orders' END,
        CASE WHEN v_dropped = 1 THEN 'its owner' ELSE 'their owners' END,
        CASE WHEN v_dropped = 1 THEN 'its owner' ELSE 'their owners' END);
    END IF;
    IF v_rem = 0 THEN
      v_status := 'filled';
    ELSIF p_tif <> 'gtc' THEN
      v_status := 'cancelled';
    ELSIF v_filled <> 0 THEN
      v_status := 'partially_filled';
    ELSE
      v_status := 'open';
    END IF;
    IF v_status IN ('filled', 'cancelled') THEN  -- orders._release
      IF buying THEN
        UPDATE prosumers SET watt_reserved = prosumers.watt_reserved - v_reserved,
          updated_at = p_now WHERE address = tr.address;
        v_reserved := 0;
      ELSE
        UPDATE prosumers SET energy_reserved = prosumers.energy_reserved - v_rem,
          updated_at = p_now WHERE address = tr.address;
      END IF;
    ELSIF buying THEN
      v_buys := v_buys + 1;
    ELSE
      v_sells := v_sells + 1;
    END IF;
    IF v_status = 'cancelled' THEN  -- orders._cancel_reason
      IF v_held_out THEN
        v_reason := format('market order: %s of %s kWh not bought: the next trade would '
          'have spent more than the %s WATT it held (amount x cap + fee; each trade pays '
          'its own fee, rounded up to the cent)', v_rem, p_amount, v_hold);
      ELSIF p_kind = 'market' THEN
        v_reason := format('market order: %s of %s kWh found no %s order %s its cap %s%s',
          v_rem, p_amount, other, CASE WHEN buying THEN 'at or below' ELSE 'at or above' END,
          v_price, CASE WHEN v_cap_note <> '' THEN ' (' || v_cap_note || ')' ELSE '' END);
      ELSE
        v_reason := format('immediate or cancel: %s of %s kWh did not fill at once at %s or %s',
          v_rem, p_amount, v_price, CASE WHEN buying THEN 'less' ELSE 'more' END);
      END IF;
    END IF;
  ELSE  -- killed: nothing traded, nothing held
    v_status := 'cancelled';
    v_reserved := 0.00;
  END IF;

  INSERT INTO energy_orders (id, trader_address, order_type, energy_amount, price_per_kwh,
    is_active, created_at, filled_amount, status, time_in_force, expires_at, updated_at,
    watt_reserved, seq, kind, status_reason, placed_seq)
  VALUES (p_order_id, p_address, p_side, p_amount, v_price,
    v_status IN ('open', 'partially_filled'), p_now, v_filled, v_status, p_tif, v_expires,
    p_now, v_reserved, v_order_seq, p_kind, left(v_reason, 255), v_order_seq);

  PERFORM energy_tui_record_fills(p_order_id, p_address, p_side, p_now, v_buys, v_sells,
    fills_id, fills_maker, fills_maker_trader, fills_amount, fills_price, fills_total,
    fills_fee, fills_seq, p_user_id, p_api_key_id, p_ip, p_label);

  -- the change marker (its trigger notifies listeners at commit)
  UPDATE market_state SET order_seq = v_order_seq, trade_seq = v_trade_seq,
    version = market_state.version + 1, open_buy_orders = v_buys,
    open_sell_orders = v_sells, updated_at = p_now WHERE market_state.id = 1;

  n := coalesce(array_length(fills_id, 1), 0);
  v_data := '{"amount": ' || energy_tui_json_text(p_amount::text) || ', "fills": ' || n
    || CASE WHEN p_kind <> 'limit' THEN ', "kind": ' || energy_tui_json_text(p_kind) ELSE ''
       END
    || ', "order_id": ' || energy_tui_json_text(p_order_id::text)
    || ', "price": ' || energy_tui_json_text(v_price::text)
    || CASE WHEN v_killed THEN ', "reason": ' || energy_tui_json_text(v_reason) ELSE '' END
    || ', "side": ' || energy_tui_json_text(p_side)
    || ', "status": ' || energy_tui_json_text(v_status)
    || ', "time_in_force": ' || energy_tui_json_text(p_tif) || '}';
  INSERT INTO audit_logs (created_at, event_type, user_id, api_key_id, ip_address,
    event_data, actor, outcome)
  VALUES (p_now, 'order_created', p_user_id, p_api_key_id, p_ip, v_data, p_label, 'success');

  FOR i IN 1 .. n LOOP
    RETURN QUERY SELECT 'fill'::text, fills_id[i], NULL::text, fills_amount[i],
      fills_price[i], NULL::numeric, NULL::numeric, NULL::text, fills_seq[i],
      NULL::timestamp, CASE WHEN buying THEN p_order_id ELSE fills_maker[i] END,
      CASE WHEN buying THEN fills_maker[i] ELSE p_order_id END,
      CASE WHEN buying THEN p_address ELSE fills_maker_trader[i] END,
      CASE WHEN buying THEN fills_maker_trader[i] ELSE p_address END,
      fills_total[i], fills_fee[i], fills_total[i] + fills_fee[i], p_side, NULL::float8;
  END LOOP;
  RETURN QUERY SELECT 'order'::text, p_order_id, v_status, p_amount, v_price, v_filled,
    v_reserved, v_reason, v_order_seq, v_expires, NULL::uuid, NULL::uuid, NULL::text,
    NULL::text, NULL::numeric, NULL::numeric, NULL::numeric, NULL::text, v_waited;
END $fn$;
"""

# The fat-finger guard's judgement (guard.reference_price and guard.assess) for an
# amendment that is not confirmed, with its formatting: Python's `f"{x:,}"` and
# `guard._percent`. The reasons come back in the guard's order (far from the reference,
# then a large share); none when the order commits more than is available (the hold
# refuses it then) or nothing is to be feared.
GUARD = r"""
CREATE OR REPLACE FUNCTION energy_tui_grouped(v numeric) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN v < 0 THEN '-' ELSE '' END
    || regexp_replace(split_part(abs(v)::text, '.', 1), '(\d)(?=(\d{3})+$)', '\1,', 'g')
    || CASE WHEN position('.' IN abs(v)::text) > 0
      THEN '.' || split_part(abs(v)::text, '.', 2) ELSE '' END
$$;

-- guard._percent of num / den (both >= 0): to 0.1 below 100, else to 1, half-even
CREATE OR REPLACE FUNCTION energy_tui_percent(num numeric, den numeric) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT trim_scale(energy_tui_div_half_even(num, den,
    CASE WHEN num < 100 * den THEN 1 ELSE 0 END))::text || '%'
$$;

CREATE OR REPLACE FUNCTION energy_tui_guard(p_side text, p_amount numeric,
  p_price numeric, p_available numeric, p_fee_rate numeric, p_band numeric,
  p_tariff numeric, p_now timestamp, OUT base numeric, OUT fee numeric,
  OUT held numeric, OUT unit text, OUT ref_price numeric, OUT ref_source text,
  OUT reasons text[])
LANGUAGE plpgsql AS $fn$
DECLARE
  v_bid numeric;
  v_ask numeric;
BEGIN
  -- guard.reference_price: the last trade, else the mid, else the grid tariff
  SELECT t.price_per_kwh INTO ref_price FROM energy_trades t ORDER BY t.seq DESC LIMIT 1;
  IF FOUND THEN
    ref_source := 'last trade';
  ELSE
    SELECT e.price_per_kwh INTO v_bid FROM energy_orders e WHERE e.is_active
      AND e.order_type = 'buy' AND (e.expires_at IS NULL OR e.expires_at > p_now)
      ORDER BY e.price_per_kwh DESC LIMIT 1;
    SELECT e.price_per_kwh INTO v_ask FROM energy_orders e WHERE e.is_active
      AND e.order_type = 'sell' AND (e.expires_at IS NULL OR e.expires_at > p_now)
      ORDER BY e.price_per_kwh ASC LIMIT 1;
    IF v_bid IS NOT NULL AND v_ask IS NOT NULL THEN
      ref_price := energy_tui_half_even((v_ask + v_bid) / 2, 4);
      ref_source := 'mid';
    ELSE
      ref_price := p_tariff;
      ref_source := 'grid tariff';
    END IF;
  END IF;
  -- guard.assess
  base := energy_tui_trade_total(p_amount, p_price);
  IF p_side = 'buy' THEN
    fee := energy_tui_fee(base, p_fee_rate);
    held := base + fee;
    unit := 'WATT';
  ELSE
    fee := 0;
    held := p_amount;
    unit := 'kWh';
  END IF;
  reasons := '{}';
  IF held > p_available THEN  -- the market refuses it with its own reason anyway
    RETURN;
  END IF;
  -- guard._far_from (a band of 0 turns it off)
  IF p_band > 0 AND ref_price > 0 AND abs(p_price - ref_price) * 100 > p_band * ref_price THEN
    reasons := reasons || format('the price %s is %s %s the %s %s (more than %s away)',
      p_price, energy_tui_percent(abs(p_price - ref_price) * 100, ref_price),
      CASE WHEN p_price > ref_price THEN 'above' ELSE 'below' END, ref_source, ref_price,
      energy_tui_percent(p_band, 1));
  END IF;
  -- guard._large_share
  IF held * 2 > p_available THEN
    reasons := reasons || format('it commits %s of your %s %s available (more than half)',
      energy_tui_grouped(held), energy_tui_grouped(p_available), unit);
  END IF;
END $fn$;
"""

AMEND = r"""
CREATE OR REPLACE FUNCTION energy_tui_amend_order(
  p_id uuid, p_price numeric, p_amount numeric, p_confirmed boolean,
  p_expected_price numeric, p_expected_amount numeric, p_now timestamp,
  p_user_id uuid, p_api_key_id uuid, p_ip text, p_label text)
RETURNS TABLE (
  row_kind text, id uuid, status text, amount numeric, price numeric, filled numeric,
  reserved numeric, reason text, seq bigint, expires_at timestamp,
  buy_order_id uuid, sell_order_id uuid, buyer_address text, seller_address text,
  total numeric, fee numeric, buyer_total numeric, taker_side text,
  trader_address text, order_type text, time_in_force text, created_at timestamp,
  kind text, placed_seq bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  st record;
  ex record;
  o record;
  tr record;
  mt record;
  g record;
  v_judged numeric;
  buying boolean;
  other text;
  v_price numeric;
  v_amount numeric;
  v_old_price numeric;
  v_old_amount numeric;
  v_old_seq bigint;
  v_loses boolean;
  v_own numeric;
  v_remaining numeric;
  v_more numeric;
  v_available numeric;
  v_hold numeric;
  v_amended_at bigint;
  v_status text;
  v_filled numeric;
  v_reserved numeric;
  v_seq bigint;
  v_buys int;
  v_sells int;
  v_order_seq bigint;
  v_trade_seq bigint;
  fills_id uuid[] := '{}';
  fills_maker uuid[] := '{}';
  fills_maker_trader text[] := '{}';
  fills_amount numeric[] := '{}';
  fills_price numeric[] := '{}';
  fills_total numeric[] := '{}';
  fills_fee numeric[] := '{}';
  fills_seq bigint[] := '{}';
  n int;
  i int;
BEGIN
  SELECT * INTO st FROM market_state WHERE market_state.id = 1 FOR UPDATE;
  SELECT * INTO ex FROM energy_tui_expire_due(p_now);
  v_buys := st.open_buy_orders - ex.buys;
  v_sells := st.open_sell_orders - ex.sells;
  v_order_seq := st.order_seq;
  v_trade_seq := st.trade_seq;

  SELECT * INTO o FROM energy_orders e WHERE e.id = p_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'ET004', MESSAGE = format('no order with id %s', p_id);
  END IF;
  IF NOT o.is_active THEN
    RAISE EXCEPTION USING ERRCODE = 'ET001', MESSAGE = format(
      'order %s is %s: only open orders can be amended', p_id, replace(o.status, '_', ' '));
  END IF;
  IF p_expected_price IS NOT NULL AND (o.price_per_kwh <> p_expected_price
      OR o.energy_amount <> p_expected_amount) THEN
    RAISE EXCEPTION USING ERRCODE = 'ET003', MESSAGE = format(
      'the order changed since you opened it: it is now %s kWh at %s; look at it again',
      to_char(o.energy_amount, 'FM999,999,999,999,999,990.00'),
      to_char(o.price_per_kwh, 'FM999,999,999,999,990.0000'));
  END IF;
  buying := o.order_type = 'buy';
  other := CASE WHEN buying THEN 'sell' ELSE 'buy' END;
  v_old_price := o.price_per_kwh;
  v_old_amount := o.energy_amount;
  v_old_seq := o.seq;
  v_filled := o.filled_amount;
  v_reserved := o.watt_reserved;
  v_seq := o.seq;

  -- orders._amendment
  v_price := coalesce(p_price, o.price_per_kwh);
  v_amount := coalesce(p_amount, o.energy_amount);
  IF v_price = o.price_per_kwh AND v_amount = o.energy_amount THEN
    RAISE EXCEPTION USING ERRCODE = 'ET001', MESSAGE = format(
      'order %s is already %s kWh at %s: nothing to change', p_id, o.energy_amount,
      o.price_per_kwh);
  END IF;
  IF v_amount <= o.filled_amount THEN
    RAISE EXCEPTION USING ERRCODE = 'ET001', HINT = 'amount', MESSAGE = format(
      'the amount cannot go to %s kWh: %s kWh of this order have filled already; to stop '
      'the rest, cancel the order', v_amount, o.filled_amount);
  END IF;
  v_remaining := v_amount - o.filled_amount;
  IF v_remaining * v_price < st.min_order_value THEN
    RAISE EXCEPTION USING ERRCODE = 'ET001', HINT = 'amount', MESSAGE = format(
      '%s kWh at %s is worth less than %s WATT, the market''s minimum order value: '
      'raise the amount or the price', v_remaining, v_price, st.min_order_value);
  END IF;
  v_loses := v_price <> o.price_per_kwh OR v_amount > o.energy_amount;

  -- never against one's own order (orders._refuse_self_cross)
  IF v_price <> o.price_per_kwh THEN
    IF buying THEN
      SELECT MIN(e.price_per_kwh) INTO v_own FROM energy_orders e WHERE e.is_active
        AND e.order_type = 'sell' AND e.price_per_kwh <= v_price
        AND e.trader_address = o.trader_address;
    ELSE
      SELECT MAX(e.price_per_kwh) INTO v_own FROM energy_orders e WHERE e.is_active
        AND e.order_type = 'buy' AND e.price_per_kwh >= v_price
        AND e.trader_address = o.trader_address;
    END IF;
    IF v_own IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'ET001', HINT = 'price', MESSAGE = format(
        'this %s at %s would trade with your own %s order at %s: cancel that order first',
        o.order_type, v_price, other, v_own);
    END IF;
  END IF;

  SELECT * INTO tr FROM prosumers p WHERE lower(p.address) = lower(o.trader_address)
    FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'ET004',
      MESSAGE = format('no prosumer with address %s', energy_tui_repr(o.trader_address));
  END IF;

  -- the fat-finger guard on what the amended order will hold, as for a new order
  -- (orders._guard): unconfirmed, it stops with ET005 and the guard's figures as JSON
  -- DETAIL (market.server builds guard.Unconfirmed from them); nothing written
  IF v_loses AND NOT p_confirmed THEN
    -- what the order may hold: the available balance and what it holds already
    IF buying THEN
      v_judged := tr.watt_tokens - tr.watt_reserved + o.watt_reserved;
    ELSE
      v_judged := tr.energy_generated - tr.energy_consumed + tr.energy_bought
        - tr.energy_sold - tr.energy_reserved + (o.energy_amount - o.filled_amount);
    END IF;
    SELECT * INTO g FROM energy_tui_guard(o.order_type, v_remaining, v_price, v_judged,
      st.grid_fee_rate, st.price_band_percent, st.grid_import_price, p_now);
    IF cardinality(g.reasons) > 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'ET005', MESSAGE = 'order not placed: '
        || array_to_string(g.reasons, '; ') || '. Add --yes to place it anyway',
        DETAIL = json_build_object('side', o.order_type, 'amount', v_remaining::text,
          'price', v_price::text, 'base', g.base::text, 'fee', g.fee::text,
          'commit', g.held::text, 'available', v_judged::text, 'unit', g.unit,
          'reference', g.ref_price::text,
          'source', g.ref_source, 'reasons', to_json(g.reasons))::text;
    END IF;
  END IF;

  -- the hold follows exactly (orders._rehold)
  IF NOT buying THEN
    v_more := v_remaining - (o.energy_amount - o.filled_amount);
    v_available := tr.energy_generated - tr.energy_consumed + tr.energy_bought
      - tr.energy_sold - tr.energy_reserved;
    IF v_more > v_available THEN
      RAISE EXCEPTION USING ERRCODE = 'ET002', HINT = 'amount', MESSAGE = format(
        'selling %s kWh more needs them available: only %s kWh are', v_more, v_available);
    END IF;
    UPDATE prosumers SET energy_reserved = prosumers.energy_reserved + v_more,
      updated_at = p_now WHERE prosumers.address = tr.address;
  ELSE
    v_hold := energy_tui_buyer_cost(v_remaining, v_price, st.grid_fee_rate);
    IF NOT v_loses AND o.watt_reserved < v_hold THEN
      -- a smaller amount at the same price never asks for more than it holds now
      v_hold := o.watt_reserved;
    END IF;
    IF v_hold > 9999999999999.99 THEN
      RAISE EXCEPTION USING ERRCODE = 'ET001', HINT = 'amount', MESSAGE = format(
        'order value %s WATT is beyond 9999999999999.99 WATT', v_hold);
    END IF;
    v_more := v_hold - o.watt_reserved;
    v_available := tr.watt_tokens - tr.watt_reserved;
    IF v_more > v_available THEN
      RAISE EXCEPTION USING ERRCODE = 'ET002', HINT = 'amount', MESSAGE = format(
        '%s kWh at %s need %s WATT held (grid fee included), %s more than now: only %s '
        'WATT available', v_remaining, v_price, v_hold, v_more, v_available);
    END IF;
    UPDATE prosumers SET watt_reserved = prosumers.watt_reserved + v_more,
      updated_at = p_now WHERE prosumers.address = tr.address;
    v_reserved := v_hold;
  END IF;
  IF v_loses THEN
    v_order_seq := v_order_seq + 1;
    v_seq := v_order_seq;
  END IF;
  v_amended_at := v_trade_seq;  -- the trades before keep the old limit

  -- a new price trades at once at the makers' prices (orders._match): never capped
  IF v_price <> v_old_price THEN
    SELECT * INTO mt FROM energy_tui_match(o.order_type, tr.address, v_amount, v_price,
      false, st.grid_fee_rate, st.grid_operator_address, p_now, v_filled, v_reserved,
      v_buys, v_sells, v_trade_seq);
    v_filled := mt.filled; v_reserved := mt.reserved; v_buys := mt.buys;
    v_sells := mt.sells; v_trade_seq := mt.trade_seq;
    fills_id := mt.fill_ids; fills_maker := mt.maker_ids;
    fills_maker_trader := mt.maker_traders; fills_amount := mt.amounts;
    fills_price := mt.prices; fills_total := mt.totals; fills_fee := mt.fees;
    fills_seq := mt.seqs;
  END IF;

  -- what it is now: filled (its hold goes back), or resting
  IF v_amount - v_filled = 0 THEN
    v_status := 'filled';
    IF buying THEN
      UPDATE prosumers SET watt_reserved = prosumers.watt_reserved - v_reserved,
        updated_at = p_now WHERE address = tr.address;
      v_reserved := 0.00;
      v_buys := v_buys - 1;
    ELSE
      v_sells := v_sells - 1;
    END IF;
  ELSIF v_filled <> 0 THEN
    v_status := 'partially_filled';
  ELSE
    v_status := 'open';
  END IF;

  UPDATE energy_orders SET energy_amount = v_amount, price_per_kwh = v_price,
    filled_amount = v_filled, watt_reserved = v_reserved, seq = v_seq, status = v_status,
    is_active = v_status <> 'filled', updated_at = p_now WHERE energy_orders.id = p_id;

  PERFORM energy_tui_record_fills(p_id, o.trader_address, o.order_type, p_now, v_buys,
    v_sells, fills_id, fills_maker, fills_maker_trader, fills_amount, fills_price,
    fills_total, fills_fee, fills_seq, p_user_id, p_api_key_id, p_ip, p_label);

  -- the change marker (its trigger notifies listeners at commit)
  UPDATE market_state SET order_seq = v_order_seq, trade_seq = v_trade_seq,
    version = market_state.version + 1, open_buy_orders = v_buys,
    open_sell_orders = v_sells, updated_at = p_now WHERE market_state.id = 1;

  n := coalesce(array_length(fills_id, 1), 0);
  INSERT INTO audit_logs (created_at, event_type, user_id, api_key_id, ip_address,
    event_data, actor, outcome)
  VALUES (p_now, 'order_amended', p_user_id, p_api_key_id, p_ip,
    '{"after_trade_seq": ' || v_amended_at
    || ', "amount": ' || energy_tui_json_text(v_amount::text)
    || ', "fills": ' || n
    || ', "old_amount": ' || energy_tui_json_text(v_old_amount::text)
    || ', "old_price": ' || energy_tui_json_text(v_old_price::text)
    || ', "order_id": ' || energy_tui_json_text(p_id::text)
    || ', "price": ' || energy_tui_json_text(v_price::text)
    || ', "priority": ' || CASE WHEN v_seq = v_old_seq THEN '"kept"' ELSE '"lost"' END
    || ', "side": ' || energy_tui_json_text(o.order_type)
    || ', "status": ' || energy_tui_json_text(v_status) || '}',
    p_label, 'success');

  FOR i IN 1 .. n LOOP
    RETURN QUERY SELECT 'fill'::text, fills_id[i], NULL::text, fills_amount[i],
      fills_price[i], NULL::numeric, NULL::numeric, NULL::text, fills_seq[i],
      NULL::timestamp, CASE WHEN buying THEN p_id ELSE fills_maker[i] END,
      CASE WHEN buying THEN fills_maker[i] ELSE p_id END,
      CASE WHEN buying THEN o.trader_address::text ELSE fills_maker_trader[i] END,
      CASE WHEN buying THEN fills_maker_trader[i] ELSE o.trader_address::text END,
      fills_total[i], fills_fee[i], fills_total[i] + fills_fee[i], o.order_type::text,
      NULL::text, NULL::text, NULL::text, NULL::timestamp, NULL::text, NULL::bigint;
  END LOOP;
  RETURN QUERY SELECT 'order'::text, p_id, v_status, v_amount, v_price, v_filled,
    v_reserved, o.status_reason::text, v_seq, o.expires_at, NULL::uuid, NULL::uuid,
    NULL::text, NULL::text, NULL::numeric, NULL::numeric, NULL::numeric, NULL::text,
    o.trader_address::text, o.order_type::text, o.time_in_force::text, o.created_at,
    o.kind::text, o.placed_seq::bigint;
END $fn$;
"""

# orders.cancel_all: a row per order cancelled (as it is now, with what it held before),
# then a 'total' row with how many open orders were left for being placed after the
# bound (`left_newer`; 0 without one)
CANCEL_ALL = r"""
DROP FUNCTION IF EXISTS energy_tui_cancel_all(text, text, text, timestamp, uuid, uuid,
  text, text);
CREATE OR REPLACE FUNCTION energy_tui_cancel_all(p_address text, p_side text,
  p_reason text, p_now timestamp, p_user_id uuid, p_api_key_id uuid, p_ip text,
  p_label text, p_up_to_placed_seq bigint DEFAULT NULL)
RETURNS TABLE (row_kind text, held numeric, id uuid, trader_address text,
  order_type text, energy_amount numeric, price_per_kwh numeric, filled_amount numeric,
  status text, time_in_force text, created_at timestamp, expires_at timestamp,
  watt_reserved numeric, kind text, status_reason text, placed_seq bigint,
  left_newer bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  st record;
  ex record;
  o record;
  v_buys int;
  v_sells int;
  v_count int := 0;
  v_newer bigint := 0;
  v_ids text[] := '{}';
  v_watt numeric := 0.00;
  v_energy numeric := 0.00;
  v_parts int;
  k int;
BEGIN
  SELECT * INTO st FROM market_state WHERE market_state.id = 1 FOR UPDATE;
  SELECT * INTO ex FROM energy_tui_expire_due(p_now);
  v_buys := st.open_buy_orders - ex.buys;
  v_sells := st.open_sell_orders - ex.sells;
  IF p_up_to_placed_seq IS NOT NULL THEN  -- placed since the user looked: left open
    SELECT count(*) INTO v_newer FROM energy_orders e WHERE e.is_active
      AND e.trader_address = p_address AND (p_side IS NULL OR e.order_type = p_side)
      AND e.placed_seq > p_up_to_placed_seq;
  END IF;
  FOR o IN SELECT * FROM energy_orders e WHERE e.is_active AND e.trader_address = p_address
      AND (p_side IS NULL OR e.order_type = p_side)
      AND (p_up_to_placed_seq IS NULL OR e.placed_seq <= p_up_to_placed_seq)
      ORDER BY e.seq LOOP
    PERFORM energy_tui_release_hold(o.order_type, o.trader_address, o.watt_reserved,
      o.energy_amount - o.filled_amount, p_now);
    IF o.order_type = 'buy' THEN
      v_buys := v_buys - 1;
    ELSE
      v_sells := v_sells - 1;
    END IF;
    UPDATE energy_orders SET status = 'cancelled', is_active = false, watt_reserved = 0,
      updated_at = p_now, status_reason = p_reason WHERE energy_orders.id = o.id;
    v_count := v_count + 1;
    v_ids := v_ids || ('"' || o.id::text || '"');  -- audit.encode: a JSON array of texts
    v_watt := v_watt + o.watt_reserved;
    IF o.order_type = 'sell' THEN
      v_energy := v_energy + (o.energy_amount - o.filled_amount);
    END IF;
    RETURN QUERY SELECT 'order'::text, o.watt_reserved, o.id, o.trader_address::text,
      o.order_type::text, o.energy_amount, o.price_per_kwh, o.filled_amount,
      'cancelled'::text, o.time_in_force::text, o.created_at, o.expires_at, 0.00,
      o.kind::text, p_reason, o.placed_seq::bigint, v_newer;
  END LOOP;
  -- one audit event per 1,000 ids (a MySQL TEXT holds about 1,600), as in Python
  v_parts := (v_count + 999) / 1000;
  FOR k IN 1 .. v_parts LOOP
    INSERT INTO audit_logs (created_at, event_type, user_id, api_key_id, ip_address,
      event_data, actor, outcome) VALUES (p_now, 'order_cancelled', p_user_id,
      p_api_key_id, p_ip, '{'
      || CASE WHEN p_up_to_placed_seq IS NOT NULL THEN '"left_newer": ' || v_newer || ', '
        ELSE '' END
      || '"order_ids": ['
      || array_to_string(v_ids[(k - 1) * 1000 + 1 : k * 1000], ', ') || '], "orders": '
      || v_count || CASE WHEN v_parts > 1 THEN ', "part": '
        || energy_tui_json_text(k || ' of ' || v_parts) ELSE '' END
      || ', "released_energy": ' || energy_tui_json_text(v_energy::text)
      || ', "released_watt": ' || energy_tui_json_text(v_watt::text)
      || ', "scope": "all", "side": ' || energy_tui_json_text(coalesce(p_side, 'both'))
      || '}', p_label, 'success');
  END LOOP;
  IF v_count > 0 OR ex.buys + ex.sells > 0 THEN
    PERFORM energy_tui_save_counts(p_now, v_buys, v_sells);
  END IF;
  RETURN QUERY SELECT 'total'::text, NULL::numeric, NULL::uuid, NULL::text, NULL::text,
    NULL::numeric, NULL::numeric, NULL::numeric, NULL::text, NULL::text, NULL::timestamp,
    NULL::timestamp, NULL::numeric, NULL::text, NULL::text, NULL::bigint, v_newer;
END $fn$;
"""


def up(database: Database) -> None:
    if backend_of(database) != "postgres":
        return
    cursor = database.cursor()  # no parameters: the texts' % signs are PL/pgSQL's own
    for text in (MATCH, RECORD, PLACE, GUARD, AMEND, CANCEL_ALL):
        cursor.execute(text)
