-- checkpointer (PG13-16): checkpoint counts, times (ms) and buffers written, which these
-- versions keep in pg_stat_bgwriter. PG17 moved them to pg_stat_checkpointer
-- (checkpointer.pg17.sql). The background writer's own columns and the view's stats_reset
-- come from checkpointer_bgwriter.sql. Restartpoints on a standby are counted as
-- checkpoints here. buffers_backend* are here too: PG17 dropped them (see pg_stat_io).
SELECT checkpoints_timed, checkpoints_req,
       checkpoint_write_time, checkpoint_sync_time,
       buffers_checkpoint, buffers_backend, buffers_backend_fsync
FROM pg_stat_bgwriter
