-- checkpointer_bgwriter: the background writer's counters, the columns of pg_stat_bgwriter
-- every supported version (13+) has. Before PG17 the view's stats_reset also covers the
-- checkpoint columns read by checkpointer.sql.
SELECT buffers_clean, maxwritten_clean, buffers_alloc,
       extract(epoch FROM stats_reset) AS stats_reset
FROM pg_stat_bgwriter
