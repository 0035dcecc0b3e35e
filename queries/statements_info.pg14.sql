-- statements_info (PG14+): how many entries pg_stat_statements holds and its limit,
-- pg_stat_statements.max, plus pg_stat_statements_info: entries evicted to make room
-- (dealloc) and when the whole view was last reset. Every entry counts, nested ones too:
-- they all compete for the limit. pgmon reads stats_reset before the counters so that a
-- reset between the two statements is seen on the next run, not mistaken for old counters.
-- {schema} is the extension's schema, filled in with sql.Identifier.
SELECT (SELECT count(*) FROM {schema}.pg_stat_statements(false)) AS entries,
       current_setting('pg_stat_statements.max')::bigint AS max_entries,
       i.dealloc AS deallocations,
       i.stats_reset
FROM {schema}.pg_stat_statements_info AS i
