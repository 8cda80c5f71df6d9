"""PostgreSQL places an order in one call: `energy_tui_place_order(...)` (issue 13).

The function does on the server what `market.orders.place_order` does in Python
(DESIGN §3): the market lock, the expiry of due orders, the self-cross rule, the
hold, price-time matching, settlement in exact NUMERIC, the grid fee, trades, audit
rows, daily statistics, candle buckets and the change marker (whose trigger,
migration 0012, notifies listeners). A placement is then one statement: one round
trip, the market lock held only while the server works.

It is the same rules written a second time, in PL/pgSQL: the rounding helpers below
mirror `market.money` (half-even to the cent for a trade's value, never below a cent;
the fee rounded UP to the cent), and tests/test_pg_function_differential.py runs
random sequences through both and requires the same rows. Refusals are raised with
SQLSTATEs of class `ET` and the Python message, mapped back to the same domain errors
(`market.server.ERRORS`). Cancel, cancel-all and the sweep get one function each as well
(`energy_tui_cancel_order`, `energy_tui_cancel_all`, `energy_tui_sweep`); amend gets
its own in migration 0017. SQLite and MySQL have no such functions: nothing to do there.
It needs PostgreSQL 13 or later (`gen_random_uuid`, `trim_scale`).
The schema is forward-only (no downgrade); `CREATE OR REPLACE` makes a later step able
to change the function in place.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of

# Python's Decimal.quantize(..., ROUND_HALF_EVEN) at `places` decimals, exactly.
HALF_EVEN = """
CREATE OR REPLACE FUNCTION energy_tui_half_even(v numeric, places int) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  s numeric := v * power(10::numeric, places);
  t numeric := trunc(s);
  d numeric := abs(s - t);
BEGIN
  IF d > 0.5 OR (d = 0.5 AND mod(t, 2) <> 0) THEN
    t := t + sign(s);
  END IF;
  RETURN round(t / power(10::numeric, places), places);
END $$;
"""

# a / b rounded half-even at `places` decimals, from the exact quotient (Python: the
# quotient at 28 digits, then quantized; the same but for a quotient of more than 28
# significant digits landing on a tie, which amounts of this schema cannot produce).
DIV_HALF_EVEN = """
CREATE OR REPLACE FUNCTION energy_tui_div_half_even(a numeric, b numeric, places int)
RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  n numeric := a * power(10::numeric, places);
  q numeric := div(n, b);
  r numeric := abs(n - q * b);
BEGIN
  IF 2 * r > abs(b) OR (2 * r = abs(b) AND mod(q, 2) <> 0) THEN
    q := q + sign(n) * sign(b);
  END IF;
  RETURN round(q / power(10::numeric, places), places);
END $$;
"""

# MarketRules.trade_total, .fee and .buyer_cost (market.money).
MONEY = """
CREATE OR REPLACE FUNCTION energy_tui_trade_total(amount numeric, price numeric)
RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  value numeric := amount * price;
  r numeric := energy_tui_half_even(value, 2);
BEGIN
  IF value > 0 AND NOT r > 0.01 THEN
    RETURN 0.01;
  END IF;
  RETURN r;
END $$;

CREATE OR REPLACE FUNCTION energy_tui_fee(total numeric, rate numeric)
RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF total <= 0 OR rate <= 0 THEN
    RETURN 0.00;
  END IF;
  RETURN round(ceil(total * rate * 100) / 100, 2);
END $$;

CREATE OR REPLACE FUNCTION energy_tui_buyer_cost(amount numeric, price numeric, rate numeric)
RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  total numeric := energy_tui_trade_total(amount, price);
BEGIN
  RETURN total + energy_tui_fee(total, rate);
END $$;

CREATE OR REPLACE FUNCTION energy_tui_json_text(v text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT to_json(v)::text $$;

CREATE OR REPLACE FUNCTION energy_tui_repr(v text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN position('''' IN v) > 0 AND position('"' IN v) = 0
    THEN '"' || replace(v, E'\\\\', E'\\\\\\\\') || '"'
    ELSE '''' || replace(replace(v, E'\\\\', E'\\\\\\\\'), '''', E'\\\\''') || '''' END
$$;
"""

# orders._expire_due: every active order whose time has come expires, releasing what
# it holds; how many of each side (the caller holds the market lock and the counts).
EXPIRE = r"""
-- a resting order leaves the book: its owner gets back what it holds (a buy its WATT, a
-- sell its unfilled kWh); expiry, cancel and cancel-all (orders._release)
CREATE OR REPLACE FUNCTION energy_tui_release_hold(p_order_type text, p_trader text,
  p_watt numeric, p_rest numeric, p_now timestamp) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  IF p_order_type = 'buy' THEN
    UPDATE prosumers SET watt_reserved = prosumers.watt_reserved - p_watt,
      updated_at = p_now WHERE lower(address) = lower(p_trader);
  ELSE
    UPDATE prosumers SET energy_reserved = prosumers.energy_reserved - p_rest,
      updated_at = p_now WHERE lower(address) = lower(p_trader);
  END IF;
END $fn$;

CREATE OR REPLACE FUNCTION energy_tui_expire_due(p_now timestamp, OUT buys int, OUT sells int)
LANGUAGE plpgsql AS $fn$
DECLARE
  o record;
  v_next timestamp;
BEGIN
  buys := 0;
  sells := 0;
  SELECT MIN(e.expires_at) INTO v_next FROM energy_orders e WHERE e.is_active;
  IF v_next IS NULL OR v_next > p_now THEN
    RETURN;
  END IF;
  FOR o IN SELECT e.id, e.trader_address, e.order_type, e.energy_amount, e.filled_amount,
      e.watt_reserved FROM energy_orders e
      WHERE e.is_active AND e.expires_at <= p_now ORDER BY e.seq LOOP
    PERFORM energy_tui_release_hold(o.order_type, o.trader_address, o.watt_reserved,
      o.energy_amount - o.filled_amount, p_now);
    IF o.order_type = 'buy' THEN
      buys := buys + 1;
    ELSE
      sells := sells + 1;
    END IF;
    UPDATE energy_orders SET status = 'expired', is_active = false, watt_reserved = 0,
      updated_at = p_now, status_reason = 'its lifetime ran out (expires_at)'
      WHERE energy_orders.id = o.id;
    INSERT INTO audit_logs (created_at, event_type, user_id, api_key_id, ip_address,
      event_data, actor, outcome) VALUES (p_now, 'order_expired', NULL, NULL, NULL,
      '{"order_id": ' || energy_tui_json_text(o.id::text) || ', "trader": '
      || energy_tui_json_text(o.trader_address) || '}', 'system:expiry', 'success');
  END LOOP;
END $fn$;

-- stats.record without fills and orders._save_state: the day's open counts, the
-- counters and the change marker
CREATE OR REPLACE FUNCTION energy_tui_save_counts(p_now timestamp, p_buys int, p_sells int)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO market_statistics (date, total_trades, total_volume, notional,
    average_price, highest_price, lowest_price, active_buy_orders, active_sell_orders,
    created_at) VALUES (p_now::date, 0, 0, 0, 0, 0, 0, p_buys, p_sells, p_now)
  ON CONFLICT (date) DO UPDATE SET active_buy_orders = excluded.active_buy_orders,
    active_sell_orders = excluded.active_sell_orders;
  UPDATE market_state SET version = market_state.version + 1, open_buy_orders = p_buys,
    open_sell_orders = p_sells, updated_at = p_now WHERE market_state.id = 1;
END $fn$;

-- orders.sweep_expired
CREATE OR REPLACE FUNCTION energy_tui_sweep(p_now timestamp) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
  st record;
  ex record;
BEGIN
  SELECT * INTO st FROM market_state WHERE market_state.id = 1 FOR UPDATE;
  SELECT * INTO ex FROM energy_tui_expire_due(p_now);
  IF ex.buys + ex.sells > 0 THEN
    PERFORM energy_tui_save_counts(p_now, st.open_buy_orders - ex.buys,
      st.open_sell_orders - ex.sells);
  END IF;
  RETURN ex.buys + ex.sells;
END $fn$;

-- orders.cancel_order, once its caller checked the order exists and may be cancelled
CREATE OR REPLACE FUNCTION energy_tui_cancel_order(p_id uuid, p_reason text,
  p_now timestamp, p_user_id uuid, p_api_key_id uuid, p_ip text, p_label text)
RETURNS SETOF energy_orders LANGUAGE plpgsql AS $fn$
DECLARE
  st record;
  ex record;
  o record;
  v_buys int;
  v_sells int;
BEGIN
  SELECT * INTO st FROM market_state WHERE market_state.id = 1 FOR UPDATE;
  SELECT * INTO ex FROM energy_tui_expire_due(p_now);
  v_buys := st.open_buy_orders - ex.buys;
  v_sells := st.open_sell_orders - ex.sells;
  SELECT * INTO o FROM energy_orders e WHERE e.id = p_id;
  IF NOT o.is_active THEN
    RAISE EXCEPTION USING ERRCODE = 'ET001', MESSAGE = format(
      'order %s is already %s: only open orders can be cancelled', p_id,
      replace(o.status, '_', ' '));
  END IF;
  PERFORM energy_tui_release_hold(o.order_type, o.trader_address, o.watt_reserved,
    o.energy_amount - o.filled_amount, p_now);
  IF o.order_type = 'buy' THEN
    v_buys := v_buys - 1;
  ELSE
    v_sells := v_sells - 1;
  END IF;
  UPDATE energy_orders SET status = 'cancelled', is_active = false, watt_reserved = 0,
    updated_at = p_now, status_reason = left(p_reason, 255) WHERE energy_orders.id = p_id;
  PERFORM energy_tui_save_counts(p_now, v_buys, v_sells);
  INSERT INTO audit_logs (created_at, event_type, user_id, api_key_id, ip_address,
    event_data, actor, outcome) VALUES (p_now, 'order_cancelled', p_user_id, p_api_key_id,
    p_ip, '{"order_id": ' || energy_tui_json_text(p_id::text) || ', "remaining": '
    || energy_tui_json_text((o.energy_amount - o.filled_amount)::text) || ', "side": '
    || energy_tui_json_text(o.order_type) || '}', p_label, 'success');
  RETURN QUERY SELECT * FROM energy_orders e WHERE e.id = p_id;
END $fn$;

-- orders.cancel_all: the rows cancelled (as they are now) with what each held before
CREATE OR REPLACE FUNCTION energy_tui_cancel_all(p_address text, p_side text,
  p_reason text, p_now timestamp, p_user_id uuid, p_api_key_id uuid, p_ip text,
  p_label text)
RETURNS TABLE (held numeric, id uuid, trader_address text, order_type text,
  energy_amount numeric, price_per_kwh numeric, filled_amount numeric, status text,
  time_in_force text, created_at timestamp, expires_at timestamp, watt_reserved numeric,
  kind text, status_reason text, placed_seq bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  st record;
  ex record;
  o record;
  v_buys int;
  v_sells int;
  v_count int := 0;
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
  FOR o IN SELECT * FROM energy_orders e WHERE e.is_active AND e.trader_address = p_address
      AND (p_side IS NULL OR e.order_type = p_side) ORDER BY e.seq LOOP
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
    RETURN QUERY SELECT o.watt_reserved, o.id, o.trader_address::text, o.order_type::text,
      o.energy_amount, o.price_per_kwh, o.filled_amount, 'cancelled'::text,
      o.time_in_force::text, o.created_at, o.expires_at, 0.00, o.kind::text, p_reason,
      o.placed_seq::bigint;
  END LOOP;
  -- one audit event per 1,000 ids (a MySQL TEXT holds about 1,600), as in Python
  v_parts := (v_count + 999) / 1000;
  FOR k IN 1 .. v_parts LOOP
    INSERT INTO audit_logs (created_at, event_type, user_id, api_key_id, ip_address,
      event_data, actor, outcome) VALUES (p_now, 'order_cancelled', p_user_id,
      p_api_key_id, p_ip, '{"order_ids": ['
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
END $fn$;
"""

PLACE = r"""
CREATE OR REPLACE FUNCTION energy_tui_place_order(
  p_order_id uuid, p_address text, p_side text, p_amount numeric, p_price numeric,
  p_tif text, p_expires_at timestamp, p_kind text, p_now timestamp,
  p_user_id uuid, p_api_key_id uuid, p_ip text, p_label text)
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
  o record;
  acc record;
  makers refcursor;
  buying boolean := p_side = 'buy';
  other text := CASE WHEN p_side = 'buy' THEN 'sell' ELSE 'buy' END;
  v_price numeric := p_price;
  v_cap_note text := '';
  v_ref numeric;
  v_source text;
  v_bid numeric;
  v_ask numeric;
  v_share numeric;
  v_needs text;
  v_next timestamp;
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
  v_dropped integer := 0;  -- makers cancelled on the way: they could not pay a rounding cent
  v_reason text;
  v_status text;
  v_filled numeric := 0;
  v_reserved numeric;
  v_capped boolean := p_kind = 'market' AND p_side = 'buy';
  v_held_out boolean := false;
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
  b_trader text;
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

  -- a market order without a cap: the band around the reference (orders.default_cap)
  IF v_price IS NULL THEN
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
    v_share := st.price_band_percent / 100;
    IF buying THEN
      v_price := round(floor(v_ref * (1 + v_share) * 10000) / 10000, 4);
    ELSE
      v_price := round(ceil(v_ref * (1 - v_share) * 10000) / 10000, 4);
      IF 0.0001 > v_price THEN
        v_price := 0.0001;
      END IF;
    END IF;
    v_cap_note := format('default cap: %s %s %s the %s%% price band', v_source, v_ref,
      CASE WHEN buying THEN '+' ELSE '-' END, trim_scale(st.price_band_percent));
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
      v_rem := p_amount - v_filled;
      EXIT WHEN NOT v_rem > 0;
      FETCH makers INTO m;
      EXIT WHEN NOT FOUND;
      m_rem := m.energy_amount - m.filled_amount;
      m_filled := m.filled_amount;
      m_reserved := m.watt_reserved;
      f_amount := CASE WHEN m_rem < v_rem THEN m_rem ELSE v_rem END;
      f_total := energy_tui_trade_total(f_amount, m.price_per_kwh);
      f_fee := energy_tui_fee(f_total, st.grid_fee_rate);
      IF v_capped AND f_total + f_fee > v_reserved THEN
        v_held_out := true;
        EXIT;
      END IF;
      -- the buyer pays out of its order's hold (orders._pay_from_reservation)
      IF buying THEN
        b_reserved := v_reserved; b_rem_after := v_rem - f_amount; b_price := v_price;
        b_trader := tr.address;
        SELECT p.watt_tokens - p.watt_reserved INTO b_avail FROM prosumers p
          WHERE p.address = tr.address;
      ELSE
        b_reserved := m_reserved; b_rem_after := m_rem - f_amount; b_price := m.price_per_kwh;
        b_trader := m.trader_address;
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
        v_dropped := v_dropped + 1;
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
      -- the maker: filled, or still resting (orders._save_maker)
      IF m.energy_amount - m_filled = 0 THEN
        IF NOT buying THEN  -- a buy maker: its rest of the hold goes back
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

  n := coalesce(array_length(fills_id, 1), 0);
  FOR i IN 1 .. n LOOP
    INSERT INTO energy_trades (id, buy_order_id, sell_order_id, buyer_address,
      seller_address, energy_amount, price_per_kwh, total_price, executed_at, fee,
      buyer_total, taker_side, seq)
    VALUES (fills_id[i], CASE WHEN buying THEN p_order_id ELSE fills_maker[i] END,
      CASE WHEN buying THEN fills_maker[i] ELSE p_order_id END,
      CASE WHEN buying THEN p_address ELSE fills_maker_trader[i] END,
      CASE WHEN buying THEN fills_maker_trader[i] ELSE p_address END,
      fills_amount[i], fills_price[i], fills_total[i], p_now, fills_fee[i],
      fills_total[i] + fills_fee[i], p_side, fills_seq[i]);
    INSERT INTO audit_logs (created_at, event_type, user_id, api_key_id, ip_address,
      event_data, actor, outcome) VALUES (p_now, 'order_matched', p_user_id, p_api_key_id,
      p_ip, '{"amount": ' || energy_tui_json_text(fills_amount[i]::text)
      || ', "buyer": ' || energy_tui_json_text(
        CASE WHEN buying THEN p_address ELSE fills_maker_trader[i] END)
      || ', "price": ' || energy_tui_json_text(fills_price[i]::text)
      || ', "seller": ' || energy_tui_json_text(
        CASE WHEN buying THEN fills_maker_trader[i] ELSE p_address END)
      || ', "trade_id": ' || energy_tui_json_text(fills_id[i]::text) || '}',
      p_label, 'success');
  END LOOP;

  -- the day's statistics and candle buckets (stats.record, candles.record)
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


def up(database: Database) -> None:
    if backend_of(database) != "postgres":
        return
    cursor = database.cursor()  # no parameters: the texts' % signs are PL/pgSQL's own
    for text in (HALF_EVEN, DIV_HALF_EVEN, MONEY, EXPIRE, PLACE):
        cursor.execute(text)
