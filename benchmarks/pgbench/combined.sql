\set t random(0, 99)
\set s random(0, 1)
\set p random(1940, 2060)
\set a random(10, 2000)
SELECT coalesce(max(queued), 0) AS q FROM energy_tui_place_first(gen_random_uuid(), 'pb-' || lpad((:t + 100 * :s)::text, 3, '0'), CASE WHEN :s = 1 THEN 'buy' ELSE 'sell' END, round(:a / 100.0, 2), round(:p / 10000.0, 4), 'gtc', NULL, 'limit', localtimestamp, NULL, NULL, NULL, 'bench') \gset
\if :q > 0
SELECT count(*) FROM energy_tui_place_wait((SELECT order_id FROM energy_tui_place_queue WHERE id = :q));
\endif
