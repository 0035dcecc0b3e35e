-- server_stats_reset: how long ago each set of cumulative statistics the heuristics read was
-- reset: every database's (pg_stat_database.stats_reset, which pg_stat_reset() also sets
-- and which covers the table and index counters) and the background writer's, which before
-- PG17 also holds the checkpoint counters (the PG17 variant adds pg_stat_checkpointer).
-- NULL means never reset. The age is computed here so the heuristics need no clock.
-- The row with a NULL datname (shared catalogs) is not a database one can act on.
SELECT 'pg_stat_database' AS view, datname,
       extract(epoch FROM clock_timestamp() - stats_reset) AS reset_seconds
FROM pg_stat_database
WHERE datname IS NOT NULL
UNION ALL
SELECT 'pg_stat_bgwriter', NULL, extract(epoch FROM clock_timestamp() - stats_reset)
FROM pg_stat_bgwriter
ORDER BY 1, 2
