-- wal_stats (PG14-17): WAL generated (records, full page images, bytes) and how it was
-- written and synced, from pg_stat_wal. Times are in ms and stay 0 unless
-- track_wal_io_timing is on.
SELECT wal_records, wal_fpi, wal_bytes, wal_buffers_full,
       wal_write, wal_sync, wal_write_time, wal_sync_time,
       extract(epoch FROM stats_reset) AS stats_reset
FROM pg_stat_wal
