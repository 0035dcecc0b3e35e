-- replication_standbys: one row per WAL sender (standby or pg_basebackup), with how far it
-- trails this server in bytes and, from the walsender's own measurements, in seconds.
-- Every supported version (13+).
-- The reference position is pg_current_wal_lsn() on a primary; that function fails during
-- recovery, so a cascading standby measures its senders against the WAL it has itself
-- (the later of received and replayed). CASE evaluates only the branch it takes.
-- The *_lag intervals turn NULL once a standby has caught up and the primary is idle; the
-- lag is then really 0, so NULL becomes 0 only when that position has reached ours.
-- The pg_current_wal_lsn_bytes / pg_wal_lsn_diff columns keep postgres_exporter's meaning
-- (primary only, NULL during recovery). The slot is found through the sender's pid.
-- Ordered so that, of senders sharing a name and address, the longest-running comes first.
WITH here AS (
    SELECT pg_is_in_recovery() AS in_recovery,
           CASE WHEN pg_is_in_recovery()
                THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                ELSE pg_current_wal_lsn()
           END AS lsn
)
SELECT r.application_name,
       host(r.client_addr) AS client_addr,
       r.state,
       r.sync_state,
       s.slot_name,
       greatest(0, h.lsn - r.sent_lsn) AS sent_lag_bytes,
       greatest(0, h.lsn - r.write_lsn) AS write_lag_bytes,
       greatest(0, h.lsn - r.flush_lsn) AS flush_lag_bytes,
       greatest(0, h.lsn - r.replay_lsn) AS replay_lag_bytes,
       coalesce(extract(epoch FROM r.write_lag),
                CASE WHEN r.write_lsn >= h.lsn THEN 0 END) AS write_lag_seconds,
       coalesce(extract(epoch FROM r.flush_lag),
                CASE WHEN r.flush_lsn >= h.lsn THEN 0 END) AS flush_lag_seconds,
       coalesce(extract(epoch FROM r.replay_lag),
                CASE WHEN r.replay_lsn >= h.lsn THEN 0 END) AS replay_lag_seconds,
       extract(epoch FROM r.reply_time) AS reply_time,
       CASE WHEN NOT h.in_recovery THEN h.lsn - '0/0' END AS pg_current_wal_lsn_bytes,
       CASE WHEN NOT h.in_recovery THEN h.lsn - r.replay_lsn END AS pg_wal_lsn_diff
FROM pg_stat_replication r
CROSS JOIN here h
LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid
ORDER BY r.application_name, client_addr, r.backend_start
