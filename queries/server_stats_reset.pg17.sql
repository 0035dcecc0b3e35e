-- server_stats_reset (PG17+): as server_stats_reset.sql, plus pg_stat_checkpointer, which
-- took the checkpoint counters out of pg_stat_bgwriter in PG17 and is reset on its own.
-- NULL means never reset. The age is computed here so the heuristics need no clock.
SELECT 'pg_stat_database' AS view, datname,
       extract(epoch FROM clock_timestamp() - stats_reset) AS reset_seconds
FROM pg_stat_database
WHERE datname IS NOT NULL
UNION ALL
SELECT 'pg_stat_bgwriter', NULL, extract(epoch FROM clock_timestamp() - stats_reset)
FROM pg_stat_bgwriter
UNION ALL
SELECT 'pg_stat_checkpointer', NULL, extract(epoch FROM clock_timestamp() - stats_reset)
FROM pg_stat_checkpointer
ORDER BY 1, 2
