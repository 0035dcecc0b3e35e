-- checkpointer (PG18+): pg_stat_checkpointer with num_done (checkpoints completed, which
-- num_timed + num_requested overstates when some are skipped on an idle server) and
-- slru_written (SLRU buffers written by checkpoints); times in ms.
SELECT num_timed, num_requested, num_done,
       restartpoints_timed, restartpoints_req, restartpoints_done,
       write_time, sync_time, buffers_written, slru_written,
       extract(epoch FROM stats_reset) AS stats_reset
FROM pg_stat_checkpointer
