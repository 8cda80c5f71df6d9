"""PostgreSQL amends an order in one call: `energy_tui_amend_order(...)` (issue 13).

The function does on the server what `market.orders.amend_order` does in Python once
its caller has checked the order exists and is the actor's (DESIGN §3, Amend): the
market lock, the expiry of due orders, the stale-view check (`expected`), the
amendment's refusals, the self-cross rule, the exact new hold, a new seq when the
order loses priority, matching at the makers' prices when the price moved, trades,
audit rows (`order_matched`, `order_amended`), daily statistics, candle buckets and
the change marker. It uses migration 0014's helpers (money rounding, expiry, JSON
text); the matching loop is 0014's, for a resting GTC limit order (never capped,
never FOK) that may have filled in part already.

The fat-finger guard reads the book's reference price and the trader's balances and
formats its warning in Python (`guard.assess`). When an amendment needs it (a new price
or a larger amount, not confirmed), the function raises SQLSTATE `ET009` before writing
anything, the call rolls back, and `orders.amend_order` runs the Python path, which
judges it under its own market lock. Confirmed amendments and smaller amounts (which
never need the guard) are one call.

Refusals are SQLSTATEs of class `ET` with the Python message (`market.server.ERRORS`;
`ET003` is the stale-view `Conflict`). SQLite and MySQL: nothing to do.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of

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
  m record;
  makers refcursor;
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
  m_rem numeric;
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
  m_reserved numeric;
  m_filled numeric;
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

  -- the fat-finger guard is Python's: nothing written, the caller runs the Python path
  IF v_loses AND NOT p_confirmed THEN
    RAISE EXCEPTION USING ERRCODE = 'ET009', MESSAGE = 'the amendment needs the guard';
  END IF;

  SELECT * INTO tr FROM prosumers p WHERE lower(p.address) = lower(o.trader_address)
    FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'ET004',
      MESSAGE = format('no prosumer with address %s', energy_tui_repr(o.trader_address));
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

  -- a new price trades at once at the makers' prices (orders._match, as migration 0014)
  IF v_price <> v_old_price THEN
    IF buying THEN
      OPEN makers FOR SELECT e.id, e.trader_address, e.energy_amount, e.price_per_kwh,
        e.filled_amount, e.watt_reserved FROM energy_orders e
        WHERE e.is_active AND e.order_type = other AND e.price_per_kwh <= v_price
        ORDER BY e.price_per_kwh ASC, e.seq ASC;
    ELSE
      OPEN makers FOR SELECT e.id, e.trader_address, e.energy_amount, e.price_per_kwh,
        e.filled_amount, e.watt_reserved FROM energy_orders e
        WHERE e.is_active AND e.order_type = other AND e.price_per_kwh >= v_price
        ORDER BY e.price_per_kwh DESC, e.seq ASC;
    END IF;
    LOOP
      v_rem := v_amount - v_filled;
      EXIT WHEN NOT v_rem > 0;
      FETCH makers INTO m;
      EXIT WHEN NOT FOUND;
      m_rem := m.energy_amount - m.filled_amount;
      m_filled := m.filled_amount;
      m_reserved := m.watt_reserved;
      f_amount := CASE WHEN m_rem < v_rem THEN m_rem ELSE v_rem END;
      f_total := energy_tui_trade_total(f_amount, m.price_per_kwh);
      f_fee := energy_tui_fee(f_total, st.grid_fee_rate);
      IF buying THEN
        b_reserved := v_reserved; b_rem_after := v_rem - f_amount; b_price := v_price;
        SELECT p.watt_tokens - p.watt_reserved INTO b_avail FROM prosumers p
          WHERE p.address = tr.address;
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
        v_buys := v_buys - 1;
        UPDATE energy_orders SET filled_amount = m_filled, watt_reserved = 0,
          updated_at = p_now, status = 'cancelled', is_active = false, status_reason =
          'its owner could not pay the rounding cent of its next trade (each trade''s price '
          'and fee are rounded to the cent): cancelled by the market'
          WHERE energy_orders.id = m.id;
        CONTINUE;
      END IF;
      IF b_rem_after <> 0 THEN
        b_needed := energy_tui_buyer_cost(b_rem_after, b_price, st.grid_fee_rate);
      ELSE
        b_needed := 0;
      END IF;
      x := CASE WHEN b_needed < b_left THEN b_needed ELSE b_left END;
      b_hold := CASE WHEN x > 0 THEN x ELSE 0 END;
      UPDATE prosumers SET watt_reserved = prosumers.watt_reserved + (b_hold - b_reserved),
        watt_tokens = prosumers.watt_tokens - (f_total + f_fee),
        energy_bought = prosumers.energy_bought + f_amount, updated_at = p_now
        WHERE CASE WHEN buying THEN address = tr.address
          ELSE lower(address) = lower(m.trader_address) END;
      UPDATE prosumers SET watt_tokens = prosumers.watt_tokens + f_total,
        energy_sold = prosumers.energy_sold + f_amount,
        energy_reserved = prosumers.energy_reserved - f_amount, updated_at = p_now
        WHERE CASE WHEN buying THEN lower(address) = lower(m.trader_address)
          ELSE address = tr.address END;
      IF buying THEN
        v_reserved := b_hold;
      ELSE
        m_reserved := b_hold;
      END IF;
      v_filled := v_filled + f_amount;
      m_filled := m_filled + f_amount;
      IF f_fee <> 0 THEN
        UPDATE prosumers SET watt_tokens = prosumers.watt_tokens + f_fee, updated_at = p_now
          WHERE lower(address) = lower(st.grid_operator_address);
        IF NOT FOUND THEN
          INSERT INTO prosumers (address, name, energy_generated, energy_consumed,
            grid_tokens, watt_tokens, created_at, updated_at, watt_reserved, energy_bought,
            energy_sold, energy_reserved, kind)
          VALUES (st.grid_operator_address, 'Grid operator', 0, 0, 0, f_fee, p_now, p_now,
            0, 0, 0, 0, 'grid_operator');
        END IF;
      END IF;
      v_trade_seq := v_trade_seq + 1;
      n := coalesce(array_length(fills_id, 1), 0) + 1;
      fills_id[n] := gen_random_uuid();
      fills_maker[n] := m.id;
      fills_maker_trader[n] := m.trader_address;
      fills_amount[n] := f_amount;
      fills_price[n] := m.price_per_kwh;
      fills_total[n] := f_total;
      fills_fee[n] := f_fee;
      fills_seq[n] := v_trade_seq;
      IF m.energy_amount - m_filled = 0 THEN
        IF NOT buying THEN
          UPDATE prosumers SET watt_reserved = prosumers.watt_reserved - m_reserved,
            updated_at = p_now WHERE lower(address) = lower(m.trader_address);
          v_buys := v_buys - 1;
        ELSE
          v_sells := v_sells - 1;
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

  n := coalesce(array_length(fills_id, 1), 0);
  FOR i IN 1 .. n LOOP
    INSERT INTO energy_trades (id, buy_order_id, sell_order_id, buyer_address,
      seller_address, energy_amount, price_per_kwh, total_price, executed_at, fee,
      buyer_total, taker_side, seq)
    VALUES (fills_id[i], CASE WHEN buying THEN p_id ELSE fills_maker[i] END,
      CASE WHEN buying THEN fills_maker[i] ELSE p_id END,
      CASE WHEN buying THEN o.trader_address ELSE fills_maker_trader[i] END,
      CASE WHEN buying THEN fills_maker_trader[i] ELSE o.trader_address END,
      fills_amount[i], fills_price[i], fills_total[i], p_now, fills_fee[i],
      fills_total[i] + fills_fee[i], o.order_type, fills_seq[i]);
    INSERT INTO audit_logs (created_at, event_type, user_id, api_key_id, ip_address,
      event_data, actor, outcome) VALUES (p_now, 'order_matched', p_user_id, p_api_key_id,
      p_ip, '{"amount": ' || energy_tui_json_text(fills_amount[i]::text)
      || ', "buyer": ' || energy_tui_json_text(
        CASE WHEN buying THEN o.trader_address ELSE fills_maker_trader[i] END)
      || ', "price": ' || energy_tui_json_text(fills_price[i]::text)
      || ', "seller": ' || energy_tui_json_text(
        CASE WHEN buying THEN fills_maker_trader[i] ELSE o.trader_address END)
      || ', "trade_id": ' || energy_tui_json_text(fills_id[i]::text) || '}',
      p_label, 'success');
  END LOOP;

  UPDATE energy_orders SET energy_amount = v_amount, price_per_kwh = v_price,
    filled_amount = v_filled, watt_reserved = v_reserved, seq = v_seq, status = v_status,
    is_active = v_status <> 'filled', updated_at = p_now WHERE energy_orders.id = p_id;

  -- the day's statistics and candle buckets (stats.record, candles.record), as 0014
  IF n = 0 THEN
    INSERT INTO market_statistics (date, total_trades, total_volume, notional,
      average_price, highest_price, lowest_price, active_buy_orders, active_sell_orders,
      created_at) VALUES (v_day, 0, 0, 0, 0, 0, 0, v_buys, v_sells, p_now)
    ON CONFLICT (date) DO UPDATE SET active_buy_orders = excluded.active_buy_orders,
      active_sell_orders = excluded.active_sell_orders;
  ELSE
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
        d_high := fills_price[i]; d_low := fills_price[i];
      ELSE
        IF fills_price[i] > d_high THEN d_high := fills_price[i]; END IF;
        IF fills_price[i] < d_low THEN d_low := fills_price[i]; END IF;
      END IF;
      d_trades := d_trades + 1;
      d_volume := d_volume + fills_amount[i];
      d_notional := d_notional + fills_amount[i] * fills_price[i];
    END LOOP;
    IF NOT d_found THEN
      INSERT INTO market_statistics (date, total_trades, total_volume, notional,
        average_price, highest_price, lowest_price, active_buy_orders, active_sell_orders,
        created_at) VALUES (v_day, d_trades, d_volume, d_notional,
        CASE WHEN d_volume <> 0 THEN energy_tui_div_half_even(d_notional, d_volume, 4)
          ELSE 0 END, d_high, d_low, v_buys, v_sells, p_now);
    ELSE
      UPDATE market_statistics SET total_trades = d_trades, total_volume = d_volume,
        notional = d_notional, average_price = CASE WHEN d_volume <> 0
          THEN energy_tui_div_half_even(d_notional, d_volume, 4) ELSE 0 END,
        highest_price = d_high, lowest_price = d_low, active_buy_orders = v_buys,
        active_sell_orders = v_sells WHERE market_statistics.date = v_day;
    END IF;
    v_whole := floor(extract(epoch FROM p_now))::bigint;
    FOREACH size IN ARRAY ARRAY[900, 3600, 86400] LOOP
      v_start := timestamp '1970-01-01' + make_interval(secs => v_whole - mod(v_whole, size));
      SELECT k.open_price, k.high_price, k.low_price, k.close_price, k.volume, k.trades,
        k.first_seq, k.last_seq INTO c FROM market_candles k
        WHERE k.seconds = size AND k.bucket_start = v_start;
      c_new := NOT FOUND;
      IF c_new THEN
        c_open := fills_price[1]; c_high := fills_price[1]; c_low := fills_price[1];
        c_close := fills_price[1]; c_volume := fills_amount[1]; c_trades := 1;
        c_first := fills_seq[1]; c_last := fills_seq[1];
      ELSE
        c_open := c.open_price; c_high := c.high_price; c_low := c.low_price;
        c_close := c.close_price; c_volume := c.volume; c_trades := c.trades;
        c_first := c.first_seq; c_last := c.last_seq;
      END IF;
      FOR i IN CASE WHEN c_new THEN 2 ELSE 1 END .. n LOOP
        IF fills_price[i] > c_high THEN c_high := fills_price[i]; END IF;
        IF fills_price[i] < c_low THEN c_low := fills_price[i]; END IF;
        c_volume := c_volume + fills_amount[i];
        c_trades := c_trades + 1;
        IF fills_seq[i] < c_first THEN
          c_first := fills_seq[i]; c_open := fills_price[i];
        END IF;
        IF fills_seq[i] >= c_last THEN
          c_last := fills_seq[i]; c_close := fills_price[i];
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
  END IF;

  -- the change marker (its trigger notifies listeners at commit)
  UPDATE market_state SET order_seq = v_order_seq, trade_seq = v_trade_seq,
    version = market_state.version + 1, open_buy_orders = v_buys,
    open_sell_orders = v_sells, updated_at = p_now WHERE market_state.id = 1;

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


def up(database: Database) -> None:
    if backend_of(database) != "postgres":
        return
    database.cursor().execute(AMEND)  # no parameters: the text's % signs are PL/pgSQL's
