-- replication_receiver: the WAL receiver of a standby (no row when it is not running, and
-- always none on a primary). Every supported version (13+).
-- The age of the last message from the upstream server shows a connection that is up but
-- silent, which the replay lag cannot show (nothing received means nothing to replay).
SELECT status,
       extract(epoch FROM clock_timestamp() - last_msg_receipt_time) AS last_msg_receipt_age_seconds
FROM pg_stat_wal_receiver
