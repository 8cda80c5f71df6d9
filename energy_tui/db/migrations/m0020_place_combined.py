"""PostgreSQL places queued orders together: one commit for several writers' orders (issue 13).

With several writers, each placement of migration 0014 held the market lock through its
own commit (its WAL flush), and handing the lock on waited for the next holder to be
scheduled: 8 writers placed fewer orders a second than 1. Here the writers that queue
while another places are placed together ("flat combining", group commit by design):

- `energy_tui_place_first(...)` (the arguments of `energy_tui_place_order`): if nobody
  holds or waits for the combining key (`pg_try_advisory_xact_lock`), it places at once
  in its own statement's transaction as before, after any orders already queued
  (arrival order). If a writer holds it but none is next to combine (a second key,
  tried), it becomes the next combiner in the same statement: it waits for the key,
  then places what was queued meanwhile and its own order (so with two writers a
  placement is still one round trip). Otherwise it queues the order in `energy_tui_place_queue`, an
  UNLOGGED table, takes a session advisory lock on the row's id (its writer is alive
  and waits for the answer) and returns the id: a transaction that wrote only unlogged
  rows does not wait for a WAL flush.
- `energy_tui_place_wait(order id)`: one waiting writer at a time becomes the next
  combiner (a second key, tried): it waits for the combining key behind the batch that
  runs, then, unless that batch placed its order, combines: it takes the market lock
  and places every queued order in arrival order (the queue's id), each by
  `energy_tui_place_order` (0014, called by its signature) in its own subtransaction
  (BEGIN ... EXCEPTION), so a refused order undoes only itself. Each answer (the
  function's rows, or its SQLSTATE, message, detail and hint) is written on its row;
  the statement's commit is one WAL flush for the whole batch. The other waiters wait
  for the key in share mode, queued behind the next combiner: they all wake at once
  when its batch has committed, and each reads its answer (no hand-off from one waiter
  to the next). The answer comes back as the function's rows plus the error columns;
  `market.server` raises a stored error as the direct call would have.
- `energy_tui_place_withdraw(order id)`: a writer whose wait failed (cancelled, a batch
  that failed as a whole) takes its order back unless a batch placed it (then its
  answer).

Safety:
- A writer that died after queuing (its session ended: its advisory lock is free) is
  not placed behind its back: the combiner deletes its row instead.
- A batch that fails as a whole (the combiner's statement cancelled, or an error outside
  an order's own subtransaction) rolls back entirely: the other rows stay queued for
  the next combiner; the combiner's client withdraws its own.
- Crash: a writer is answered only after its batch's commit was flushed (it waits on the
  combining key, a transaction lock released after the commit record is flushed). Crash
  recovery empties an unlogged table: only requests nobody was answered for are lost,
  and their sessions died with the server.
- Inside a caller's transaction `market.server` calls `energy_tui_place_order`
  directly, as before (a savepoint of the caller's transaction).
- Arrival order is the queue's id (an identity; its sequence is unlogged with its table
  on PostgreSQL 15 and later), which is price-time priority as the writers queued.
SQLite and MySQL: nothing to do.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of

# advisory lock keys (the two-int form): (COMBINING, 0) while a writer combines or places
# alone, (COMBINING, 1) held by the writer that combines next, (WAITING, id mod 2^31-1)
# held by the session that queued request `id`
COMBINING = 1163149568  # 0x45544300, "ETC\0"
WAITING = 1163149569

# the rows of energy_tui_place_order (migration 0014), as a type to keep them in a queue row
ROWS = """
DO $$ BEGIN
  CREATE TYPE energy_tui_place_row AS (
    row_kind text, id uuid, status text, amount numeric, price numeric, filled numeric,
    reserved numeric, reason text, seq bigint, expires_at timestamp,
    buy_order_id uuid, sell_order_id uuid, buyer_address text, seller_address text,
    total numeric, fee numeric, buyer_total numeric, taker_side text,
    lock_wait double precision);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE UNLOGGED TABLE IF NOT EXISTS energy_tui_place_queue (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id uuid NOT NULL, address text NOT NULL, side text NOT NULL, amount numeric NOT NULL,
  price numeric, tif text NOT NULL, expires_at timestamp, kind text NOT NULL,
  now timestamp NOT NULL, user_id uuid, api_key_id uuid, ip text, label text,
  done boolean NOT NULL DEFAULT false,
  in_batch int,
  answer energy_tui_place_row[],
  err_state text, err_message text, err_detail text, err_hint text
);
CREATE UNIQUE INDEX IF NOT EXISTS energy_tui_place_queue_order
  ON energy_tui_place_queue (order_id);
"""

# what place_first, place_wait and place_withdraw return: a placement's rows, then the
# request's id when it was queued, and a stored refusal
RESULT = """
  row_kind text, id uuid, status text, amount numeric, price numeric, filled numeric,
  reserved numeric, reason text, seq bigint, expires_at timestamp,
  buy_order_id uuid, sell_order_id uuid, buyer_address text, seller_address text,
  total numeric, fee numeric, buyer_total numeric, taker_side text,
  lock_wait double precision, queued bigint, err_state text, err_message text,
  err_detail text, err_hint text, in_batch int
"""

FUNCTIONS = r"""
-- place every queued order in arrival order under the market lock, each in its own
-- subtransaction, writing each answer on its row (the caller holds the combining key)
CREATE OR REPLACE FUNCTION energy_tui_place_combine(p_own bigint, p_before bigint,
  p_after bigint, p_placed int) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
  q record;
  v_answer energy_tui_place_row[];
  v_count int := p_placed;  -- placed before in this batch
  e_state text;
  e_message text;
  e_detail text;
  e_hint text;
BEGIN
  PERFORM 1 FROM market_state WHERE market_state.id = 1 FOR UPDATE;
  FOR q IN SELECT * FROM energy_tui_place_queue k WHERE NOT k.done
      AND (p_before IS NULL OR k.id < p_before) AND (p_after IS NULL OR k.id > p_after)
      ORDER BY k.id FOR UPDATE SKIP LOCKED LOOP
    IF q.id IS DISTINCT FROM p_own
        AND pg_try_advisory_xact_lock(__WAITING__, (q.id % 2147483647)::int) THEN
      -- its writer is gone (its session ended): nobody would be answered
      DELETE FROM energy_tui_place_queue WHERE energy_tui_place_queue.id = q.id;
      CONTINUE;
    END IF;
    v_count := v_count + 1;
    BEGIN
      SELECT array_agg(f::energy_tui_place_row) INTO v_answer
        FROM energy_tui_place_order(q.order_id, q.address, q.side, q.amount, q.price,
          q.tif, q.expires_at, q.kind, q.now, q.user_id, q.api_key_id, q.ip, q.label) f;
      UPDATE energy_tui_place_queue SET done = true, answer = v_answer, in_batch = v_count
        WHERE energy_tui_place_queue.id = q.id;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
        e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
      UPDATE energy_tui_place_queue SET done = true, err_state = e_state,
        err_message = e_message, err_detail = e_detail, err_hint = e_hint, in_batch = v_count
        WHERE energy_tui_place_queue.id = q.id;
    END;
  END LOOP;
  RETURN v_count;
END $fn$;

-- a request's answer (its row done), deleting its row and ending its writer's wait
CREATE OR REPLACE FUNCTION energy_tui_place_answer(p_id bigint, p_waited double precision)
RETURNS TABLE (__RESULT__)
LANGUAGE plpgsql AS $fn$
DECLARE
  v record;
BEGIN
  DELETE FROM energy_tui_place_queue k WHERE k.id = p_id RETURNING * INTO v;
  IF NOT FOUND THEN  -- answered already, or withdrawn
    RETURN;
  END IF;
  PERFORM pg_advisory_unlock(__WAITING__, (p_id % 2147483647)::int);
  IF v.err_state IS NOT NULL THEN
    RETURN QUERY SELECT NULL::text, NULL::uuid, NULL::text, NULL::numeric, NULL::numeric,
      NULL::numeric, NULL::numeric, NULL::text, NULL::bigint, NULL::timestamp, NULL::uuid,
      NULL::uuid, NULL::text, NULL::text, NULL::numeric, NULL::numeric, NULL::numeric,
      NULL::text, p_waited, NULL::bigint, v.err_state, v.err_message, v.err_detail,
      v.err_hint, v.in_batch;
    RETURN;
  END IF;
  RETURN QUERY SELECT a.row_kind, a.id, a.status, a.amount, a.price, a.filled, a.reserved,
    a.reason, a.seq, a.expires_at, a.buy_order_id, a.sell_order_id, a.buyer_address,
    a.seller_address, a.total, a.fee, a.buyer_total, a.taker_side,
    CASE WHEN a.row_kind = 'order' THEN p_waited END, NULL::bigint, NULL::text,
    NULL::text, NULL::text, NULL::text, v.in_batch
    FROM unnest(v.answer) WITH ORDINALITY AS a(row_kind, id, status, amount, price, filled,
      reserved, reason, seq, expires_at, buy_order_id, sell_order_id, buyer_address,
      seller_address, total, fee, buyer_total, taker_side, lock_wait, n)
    ORDER BY a.n;
END $fn$;

CREATE OR REPLACE FUNCTION energy_tui_place_first(
  p_order_id uuid, p_address text, p_side text, p_amount numeric, p_price numeric,
  p_tif text, p_expires_at timestamp, p_kind text, p_now timestamp,
  p_user_id uuid, p_api_key_id uuid, p_ip text, p_label text)
RETURNS TABLE (__RESULT__)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_id bigint;
  v_position int;
  e_state text;
  e_message text;
  e_detail text;
  e_hint text;
BEGIN
  IF pg_try_advisory_xact_lock(__COMBINING__, 0) THEN
    -- nobody combines: place now, after what is queued (it came first)
    IF NOT EXISTS (SELECT 1 FROM energy_tui_place_queue k WHERE NOT k.done) THEN
      RETURN QUERY SELECT f.*, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text, 1
        FROM energy_tui_place_order(p_order_id, p_address, p_side, p_amount, p_price, p_tif,
          p_expires_at, p_kind, p_now, p_user_id, p_api_key_id, p_ip, p_label) f;
      RETURN;
    END IF;
    v_position := energy_tui_place_combine(NULL, NULL, NULL, 0);
  ELSIF pg_try_advisory_xact_lock(__COMBINING__, 1) THEN
    -- a batch runs and nobody is next: be the next combiner in this statement (one
    -- round trip, no queue): wait for the key, then place what was queued before this
    -- order came, this order, and what was queued after it
    v_id := nextval(pg_get_serial_sequence('energy_tui_place_queue', 'id'));
    PERFORM pg_advisory_xact_lock(__COMBINING__, 0);
    v_position := energy_tui_place_combine(NULL, v_id, NULL, 0);
  END IF;
  IF v_position IS NOT NULL THEN
    -- this order, whose refusal must not undo the others'
    v_position := v_position + 1;
    BEGIN
      RETURN QUERY SELECT f.*, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text,
        v_position FROM energy_tui_place_order(p_order_id, p_address, p_side, p_amount,
          p_price, p_tif, p_expires_at, p_kind, p_now, p_user_id, p_api_key_id, p_ip,
          p_label) f;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
        e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
      RETURN QUERY SELECT NULL::text, NULL::uuid, NULL::text, NULL::numeric, NULL::numeric,
        NULL::numeric, NULL::numeric, NULL::text, NULL::bigint, NULL::timestamp, NULL::uuid,
        NULL::uuid, NULL::text, NULL::text, NULL::numeric, NULL::numeric, NULL::numeric,
        NULL::text, NULL::float8, NULL::bigint, e_state, e_message, e_detail, e_hint,
        v_position;
    END;
    IF v_id IS NOT NULL THEN  -- the next combiner: what was queued after it came
      PERFORM energy_tui_place_combine(NULL, NULL, v_id, v_position);
    END IF;
    RETURN;
  END IF;
  -- another writer combines, and another is next: queue (unlogged: no WAL flush at this
  -- commit), then wait
  INSERT INTO energy_tui_place_queue (order_id, address, side, amount, price, tif,
    expires_at, kind, now, user_id, api_key_id, ip, label)
  VALUES (p_order_id, p_address, p_side, p_amount, p_price, p_tif, p_expires_at, p_kind,
    p_now, p_user_id, p_api_key_id, p_ip, p_label)
  RETURNING energy_tui_place_queue.id INTO v_id;
  PERFORM pg_advisory_lock(__WAITING__, (v_id % 2147483647)::int);
  RETURN QUERY SELECT NULL::text, NULL::uuid, NULL::text, NULL::numeric, NULL::numeric,
    NULL::numeric, NULL::numeric, NULL::text, NULL::bigint, NULL::timestamp, NULL::uuid,
    NULL::uuid, NULL::text, NULL::text, NULL::numeric, NULL::numeric, NULL::numeric,
    NULL::text, NULL::float8, v_id, NULL::text, NULL::text, NULL::text, NULL::text,
    NULL::int;
END $fn$;

CREATE OR REPLACE FUNCTION energy_tui_place_wait(p_order_id uuid)
RETURNS TABLE (__RESULT__)
LANGUAGE plpgsql AS $fn$
DECLARE
  p_id bigint;
  v_done boolean;
  v_next boolean;
  v_rounds int := 0;
BEGIN
  SELECT k.id INTO p_id FROM energy_tui_place_queue k WHERE k.order_id = p_order_id;
  IF NOT FOUND THEN  -- not queued: place_first placed it (or refused it) at once
    RETURN;
  END IF;
  LOOP
    -- placed (or refused) by a batch that committed?
    SELECT k.done INTO v_done FROM energy_tui_place_queue k WHERE k.id = p_id;
    EXIT WHEN v_done;
    v_next := false;
    BEGIN
      IF pg_try_advisory_xact_lock(__COMBINING__, 1) THEN
        -- the next combiner: behind the batch that runs, then this writer's own batch
        PERFORM pg_advisory_xact_lock(__COMBINING__, 0);
        SELECT k.done INTO v_done FROM energy_tui_place_queue k WHERE k.id = p_id;
        IF v_done THEN  -- placed meanwhile: give both keys back at once
          RAISE EXCEPTION USING ERRCODE = 'ETQ01';
        END IF;
        v_next := true;
      END IF;
    EXCEPTION WHEN SQLSTATE 'ETQ01' THEN  -- a subtransaction rolled back releases its locks
      v_done := true;
    END;
    EXIT WHEN v_done;
    IF v_next THEN
      PERFORM energy_tui_place_combine(p_id, NULL, NULL, 0);
      EXIT;
    END IF;
    -- another writer combines next, its batch taking this order: wait until its batch
    -- ends (the key in share mode queues behind it), with every other waiter at once
    v_rounds := v_rounds + 1;
    IF v_rounds > 3 THEN  -- that writer has not asked for the key yet: do not spin
      PERFORM pg_sleep(0.001);
    END IF;
    BEGIN
      PERFORM pg_advisory_xact_lock_shared(__COMBINING__, 0);
      RAISE EXCEPTION USING ERRCODE = 'ETQ01';
    EXCEPTION WHEN SQLSTATE 'ETQ01' THEN
      NULL;
    END;
  END LOOP;
  RETURN QUERY SELECT * FROM energy_tui_place_answer(p_id,
    extract(epoch FROM clock_timestamp() - statement_timestamp()));
END $fn$;

-- a writer whose wait failed takes its order back; if a batch placed it, its answer
CREATE OR REPLACE FUNCTION energy_tui_place_withdraw(p_order_id uuid)
RETURNS TABLE (__RESULT__)
LANGUAGE plpgsql AS $fn$
DECLARE
  p_id bigint;
BEGIN
  -- waits for a batch that holds the row: placed, it is answered, not withdrawn
  DELETE FROM energy_tui_place_queue k WHERE k.order_id = p_order_id AND NOT k.done
    RETURNING k.id INTO p_id;
  IF FOUND THEN
    PERFORM pg_advisory_unlock(__WAITING__, (p_id % 2147483647)::int);
    RETURN;
  END IF;
  SELECT k.id INTO p_id FROM energy_tui_place_queue k WHERE k.order_id = p_order_id;
  IF FOUND THEN  -- placed by a batch meanwhile: its answer
    RETURN QUERY SELECT * FROM energy_tui_place_answer(p_id, NULL);
  END IF;
END $fn$;

-- raise a stored error as the function raised it (a SQLSTATE outside class ET)
CREATE OR REPLACE FUNCTION energy_tui_raise(p_state text, p_message text, p_detail text,
  p_hint text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION USING ERRCODE = p_state, MESSAGE = p_message,
    DETAIL = coalesce(p_detail, ''), HINT = coalesce(p_hint, '');
END $fn$;
"""


def up(database: Database) -> None:
    if backend_of(database) != "postgres":
        return
    cursor = database.cursor()  # no parameters: the texts' % signs are PL/pgSQL's own
    cursor.execute(ROWS)
    cursor.execute(
        FUNCTIONS.replace("__RESULT__", RESULT.strip())
        .replace("__COMBINING__", str(COMBINING))
        .replace("__WAITING__", str(WAITING))
    )
