-- database: pg_stat_database, one row per database. PG13 (the base for 13 only): no session
-- statistics yet (PG14), so those columns are typed NULLs and produce no samples.
-- The row with a NULL datname holds shared catalogs' activity; it is not a database one can
-- act on, so it is left out. checksum_failures is NULL when data checksums are off.
SELECT datid, datname, numbackends,
       xact_commit, xact_rollback, blks_read, blks_hit,
       tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted,
       conflicts, temp_files, temp_bytes, deadlocks,
       checksum_failures, extract(epoch FROM checksum_last_failure) AS checksum_last_failure,
       blk_read_time, blk_write_time,
       extract(epoch FROM stats_reset) AS stats_reset,
       NULL::float8 AS session_time, NULL::float8 AS active_time,
       NULL::float8 AS idle_in_transaction_time,
       NULL::bigint AS sessions, NULL::bigint AS sessions_abandoned,
       NULL::bigint AS sessions_fatal, NULL::bigint AS sessions_killed,
       NULL::bigint AS parallel_workers_to_launch, NULL::bigint AS parallel_workers_launched
FROM pg_stat_database
WHERE datname IS NOT NULL
ORDER BY datname
