-- wal_stats (PG13): pg_stat_wal only exists from PG14 (wal_stats.pg14.sql), so this variant
-- returns no rows; the WAL position and directory size still come from wal.sql and
-- wal_directory.sql.
SELECT NULL::bigint AS wal_records, NULL::bigint AS wal_fpi, NULL::numeric AS wal_bytes,
       NULL::bigint AS wal_buffers_full, NULL::bigint AS wal_write, NULL::bigint AS wal_sync,
       NULL::float8 AS wal_write_time, NULL::float8 AS wal_sync_time,
       NULL::numeric AS stats_reset
WHERE false
