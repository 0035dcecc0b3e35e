-- wal_stats (PG18+): PG18 removed wal_write, wal_sync and their times from pg_stat_wal; the
-- same counts now live in pg_stat_io as object 'wal'. Context 'normal' is what pg_stat_wal
-- counted (writes and syncs of WAL buffers); context 'init' (creating new segment files)
-- was never part of it. Summed over all process types; times in ms, 0 unless
-- track_wal_io_timing is on.
SELECT w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_buffers_full,
       io.writes AS wal_write, io.fsyncs AS wal_sync,
       io.write_time AS wal_write_time, io.fsync_time AS wal_sync_time,
       extract(epoch FROM w.stats_reset) AS stats_reset
FROM pg_stat_wal w
CROSS JOIN (
    SELECT sum(writes) AS writes, sum(fsyncs) AS fsyncs,
           sum(write_time) AS write_time, sum(fsync_time) AS fsync_time
    FROM pg_stat_io
    WHERE object = 'wal' AND context = 'normal'
) io
