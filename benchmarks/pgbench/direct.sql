\set t random(0, 99)
\set s random(0, 1)
\set p random(1940, 2060)
\set a random(10, 2000)
SELECT count(*) FROM energy_tui_place_order(gen_random_uuid(), 'pb-' || lpad((:t + 100 * :s)::text, 3, '0'), CASE WHEN :s = 1 THEN 'buy' ELSE 'sell' END, round(:a / 100.0, 2), round(:p / 10000.0, 4), 'gtc', NULL, 'limit', localtimestamp, NULL, NULL, NULL, 'bench');
