-- statements_info: pg_stat_statements.max, the limit on the entries (the statements query
-- counts them). NULL without the library loaded, so that the statements query, which fails
-- then, says why. PG13 has no pg_stat_statements_info, so deallocations and the reset time
-- are NULL.
SELECT current_setting('pg_stat_statements.max', true)::bigint AS max_entries,
       NULL::bigint AS deallocations,
       NULL::timestamptz AS stats_reset
