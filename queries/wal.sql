-- wal: this server's WAL position and whether pg_ls_waldir() may be called. Every supported
-- version (13+). lsn_location_bytes keeps postgres_exporter's meaning: pg_current_wal_lsn()
-- on a primary, the replay position on a standby (pg_current_wal_lsn() fails during
-- recovery; CASE evaluates only the branch it takes). receive_lsn_bytes is NULL on a primary.
-- The privilege check lets the collector skip the directory listing (granted to pg_monitor)
-- instead of failing the run's transaction.
SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
            ELSE pg_current_wal_lsn()
       END - '0/0' AS lsn_location_bytes,
       pg_last_wal_receive_lsn() - '0/0' AS receive_lsn_bytes,
       has_function_privilege('pg_ls_waldir()', 'EXECUTE') AS can_list_waldir
