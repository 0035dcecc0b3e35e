-- statements: the counters of every entry, without query text. PG13 (extension 1.8).
-- Every entry is returned (at most pg_stat_statements.max, 5000 by default) because the top N
-- is ranked by the change since the previous run, and only pgmon knows the previous values.
-- pg_stat_statements(false) leaves the query-text file alone, which is the expensive part.
-- PG13 has no toplevel column: with pg_stat_statements.track = 'all' a nested statement's
-- time is counted in its own entry and again in the calling statement's.
-- Times are turned from ms into seconds. An entry whose role or database was dropped gets
-- the oid as its name, so two such entries never end up with the same labels.
-- {schema} is the extension's schema, filled in with sql.Identifier.
SELECT s.queryid, s.userid, s.dbid,
       coalesce(r.rolname::text, s.userid::text) AS rolname,
       coalesce(d.datname::text, s.dbid::text) AS datname,
       NULL::timestamptz AS stats_since,
       s.calls::float8 AS calls,
       s.total_exec_time / 1000.0 AS exec_seconds,
       s.rows::float8 AS rows,
       s.shared_blks_hit::float8 AS shared_blks_hit,
       s.shared_blks_read::float8 AS shared_blks_read,
       s.shared_blks_dirtied::float8 AS shared_blks_dirtied,
       s.shared_blks_written::float8 AS shared_blks_written,
       s.blk_read_time / 1000.0 AS block_read_seconds,
       s.blk_write_time / 1000.0 AS block_write_seconds,
       s.wal_bytes::float8 AS wal_bytes,
       s.total_plan_time / 1000.0 AS plan_seconds,
       true AS toplevel
FROM {schema}.pg_stat_statements(false) AS s
LEFT JOIN pg_roles r ON r.oid = s.userid
LEFT JOIN pg_database d ON d.oid = s.dbid
