-- statements_info: how many entries pg_stat_statements holds and its limit,
-- pg_stat_statements.max. Every entry counts, nested ones too: they all compete for the
-- limit. PG13 has no pg_stat_statements_info, so deallocations and the reset time are NULL.
-- {schema} is the extension's schema, filled in with sql.Identifier.
SELECT (SELECT count(*) FROM {schema}.pg_stat_statements(false)) AS entries,
       current_setting('pg_stat_statements.max')::bigint AS max_entries,
       NULL::bigint AS deallocations,
       NULL::timestamptz AS stats_reset
