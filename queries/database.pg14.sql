-- database (PG14-17): pg_stat_database, one row per database, with the session statistics
-- PG14 added (times in ms, as the view has them). The row with a NULL datname holds shared
-- catalogs' activity; it is not a database one can act on, so it is left out.
-- checksum_failures is NULL when data checksums are off.
SELECT datid, datname, numbackends,
       xact_commit, xact_rollback, blks_read, blks_hit,
       tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted,
       conflicts, temp_files, temp_bytes, deadlocks,
       checksum_failures, extract(epoch FROM checksum_last_failure) AS checksum_last_failure,
       blk_read_time, blk_write_time,
       extract(epoch FROM stats_reset) AS stats_reset,
       session_time, active_time, idle_in_transaction_time,
       sessions, sessions_abandoned, sessions_fatal, sessions_killed,
       NULL::bigint AS parallel_workers_to_launch, NULL::bigint AS parallel_workers_launched
FROM pg_stat_database
WHERE datname IS NOT NULL
ORDER BY datname
