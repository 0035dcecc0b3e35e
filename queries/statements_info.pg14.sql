-- statements_info (PG14+): pg_stat_statements.max, the limit on the entries (the statements
-- query counts them), plus pg_stat_statements_info: entries evicted to make room (dealloc)
-- and when the whole view was last reset. pgmon reads stats_reset before the counters so
-- that a reset between the two statements is seen on the next run, not mistaken for old
-- counters. The setting reads NULL without the library loaded; the view then fails, saying
-- why. {schema} is the extension's schema, filled in with sql.Identifier.
SELECT current_setting('pg_stat_statements.max', true)::bigint AS max_entries,
       i.dealloc AS deallocations,
       i.stats_reset
FROM {schema}.pg_stat_statements_info AS i
