-- checkpointer (PG17): pg_stat_checkpointer, new in PG17, which splits restartpoints (on a
-- standby) from checkpoints; times in ms. num_done and slru_written arrive in PG18
-- (checkpointer.pg18.sql) and are typed NULLs here.
SELECT num_timed, num_requested, NULL::bigint AS num_done,
       restartpoints_timed, restartpoints_req, restartpoints_done,
       write_time, sync_time, buffers_written, NULL::bigint AS slru_written,
       extract(epoch FROM stats_reset) AS stats_reset
FROM pg_stat_checkpointer
