-- statements (PG17+, extension 1.11+): the counters of every entry, without query text.
-- PG17 split blk_read_time/blk_write_time into shared_blk_*_time and local_blk_*_time;
-- block read/write seconds are their sum, which is what blk_*_time measured before, so the
-- series keep their meaning across an upgrade. stats_since (new in 17) tells pgmon when an
-- entry was removed and created again between two runs.
-- Every entry is returned (at most pg_stat_statements.max) because the top N is ranked by
-- the change since the previous run, which only pgmon knows; pg_stat_statements(false) skips
-- the query texts. A nested entry (track = 'all', toplevel = false), whose time is also the
-- calling statement's, is counted among the entries but kept out of the series.
-- {schema} is the extension's schema, filled in with sql.Identifier.
SELECT s.queryid, s.userid, s.dbid,
       coalesce(r.rolname::text, s.userid::text) AS rolname,
       coalesce(d.datname::text, s.dbid::text) AS datname,
       s.stats_since,
       s.calls::float8 AS calls,
       s.total_exec_time / 1000.0 AS exec_seconds,
       s.rows::float8 AS rows,
       s.shared_blks_hit::float8 AS shared_blks_hit,
       s.shared_blks_read::float8 AS shared_blks_read,
       s.shared_blks_dirtied::float8 AS shared_blks_dirtied,
       s.shared_blks_written::float8 AS shared_blks_written,
       (s.shared_blk_read_time + s.local_blk_read_time) / 1000.0 AS block_read_seconds,
       (s.shared_blk_write_time + s.local_blk_write_time) / 1000.0 AS block_write_seconds,
       s.wal_bytes::float8 AS wal_bytes,
       s.total_plan_time / 1000.0 AS plan_seconds,
       s.toplevel
FROM {schema}.pg_stat_statements(false) AS s
LEFT JOIN pg_roles r ON r.oid = s.userid
LEFT JOIN pg_database d ON d.oid = s.dbid
