-- index_catalog_window: since when the current database's index scans have been counted (its
-- statistics' last reset, else the server start) and the time of reading, on the server's
-- clock, for the unused_index heuristic (monitor/findings/checks/indexes.py). Every
-- supported version (13+).
SELECT d.datname,
       extract(epoch FROM coalesce(d.stats_reset, pg_postmaster_start_time()))::float8
           AS stats_since,
       CASE WHEN d.stats_reset IS NULL THEN 'server start' ELSE 'stats reset' END
           AS stats_since_source,
       extract(epoch FROM now())::float8 AS collected_at
FROM pg_stat_database d
WHERE d.datname = current_database()
