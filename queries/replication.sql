-- replication: this server's role, and on a standby how far replay trails what was received,
-- plus the settings that bound how much WAL is kept for standbys. Every supported version
-- (13+). Safe on a primary and on a standby alike: the pg_last_wal_* functions return NULL
-- on a primary instead of failing, and nothing here calls pg_current_wal_lsn().
--
-- Why lag_seconds is 0 when receive LSN <= replay LSN: pg_last_xact_replay_timestamp() is
-- the time, on the primary, of the last commit replayed here. While the primary is idle no
-- commits arrive, so "now minus that time" grows forever although the standby has applied
-- everything it was sent: an idle primary is not lag. Only while received WAL still waits
-- to be replayed does the age of the last replayed commit measure a delay. ("<=" rather
-- than "=": right after a restart the receive LSN restarts from a segment boundary and can
-- sit behind the replay LSN.) A standby that stopped receiving is not lagging by this
-- measure; that is what the WAL receiver status and message age are for. Without streaming
-- (restoring WAL from an archive) the receive LSN is NULL and the age of the last replayed
-- commit is all there is to report.
--
-- wal_keep_size replaced wal_keep_segments in PG13 (monitoring SQL still reading the old
-- name fails there); current_setting() gives both with their unit ("0", "512MB", "1GB"),
-- -1 means no limit. (pg_settings would build every setting to read two.)
SELECT pg_is_in_recovery() AS in_recovery,
       CASE
           WHEN NOT pg_is_in_recovery() THEN 0
           WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
           ELSE greatest(0, extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()))
       END AS lag_seconds,
       CASE WHEN pg_is_in_recovery()
            THEN greatest(0, extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()))
       END AS last_replay_seconds,
       CASE WHEN pg_is_in_recovery()
            THEN greatest(0, pg_last_wal_receive_lsn() - pg_last_wal_replay_lsn())
       END AS replay_lag_bytes,
       CASE WHEN current_setting('wal_keep_size') = '-1' THEN -1
            ELSE pg_size_bytes(current_setting('wal_keep_size')) END AS wal_keep_size_bytes,
       CASE WHEN current_setting('max_slot_wal_keep_size') = '-1' THEN -1
            ELSE pg_size_bytes(current_setting('max_slot_wal_keep_size'))
       END AS max_slot_wal_keep_size_bytes
