-- locks_blocking (PG14+): who waits for whom, with the wait measured from
-- pg_locks.waitstart (when the lock was requested).
-- pg_blocking_pids() briefly locks the whole lock manager, so it is only called for
-- sessions that are waiting on a heavyweight lock right now.
WITH RECURSIVE waiting AS (
    SELECT a.pid, pg_blocking_pids(a.pid) AS blockers,
           extract(epoch FROM clock_timestamp()
                   - coalesce((SELECT min(l.waitstart) FROM pg_locks l
                               WHERE l.pid = a.pid AND NOT l.granted), a.query_start))
               AS wait_seconds
    FROM pg_stat_activity a
    WHERE a.wait_event_type = 'Lock'
), edges AS (
    SELECT pid AS waiter, unnest(blockers) AS blocker FROM waiting
), roots AS (
    SELECT DISTINCT blocker AS pid FROM edges
    WHERE blocker NOT IN (SELECT waiter FROM edges)
), chain(pid, depth, path) AS (
    SELECT pid, 0, ARRAY[pid] FROM roots
    UNION ALL
    SELECT e.waiter, c.depth + 1, c.path || e.waiter
    FROM chain c JOIN edges e ON e.blocker = c.pid
    WHERE e.waiter <> ALL (c.path)
)
SELECT (SELECT count(DISTINCT waiter) FROM edges) AS blocked_sessions,
       (SELECT count(*) FROM roots) AS root_blockers,
       (SELECT coalesce(max(depth), 0) FROM chain) AS max_chain_depth,
       (SELECT coalesce(max(wait_seconds), 0) FROM waiting) AS max_wait_seconds
