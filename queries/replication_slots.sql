-- replication_slots: every replication slot, whether a consumer is attached, and how much
-- WAL it holds back. Every supported version (13+; wal_status and safe_wal_size are 13+).
-- Retained WAL is measured from pg_current_wal_lsn() on a primary; that function fails
-- during recovery, so on a standby the last received position is used instead (NULL, and
-- no sample, while nothing is being received). CASE evaluates only the branch it takes.
-- safe_wal_size is NULL when max_slot_wal_keep_size is -1 (no limit).
-- For logical slots the consumer's progress is confirmed_flush_lsn, which can be far ahead
-- of restart_lsn, so it is reported separately.
WITH here AS (
    SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                ELSE pg_current_wal_lsn()
           END AS lsn
)
SELECT s.slot_name,
       s.slot_type,
       s.plugin,
       s.database,
       s.active,
       s.wal_status,
       s.safe_wal_size,
       greatest(0, h.lsn - s.restart_lsn) AS retained_bytes,
       greatest(0, h.lsn - s.confirmed_flush_lsn) AS confirmed_flush_lag_bytes
FROM pg_replication_slots s
CROSS JOIN here h
ORDER BY s.slot_name
