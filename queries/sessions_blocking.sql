-- sessions_blocking: the heads of blocking chains (sessions that hold a lock others
-- wait for while not waiting themselves), most sessions blocked first, at most top_n of them:
-- how many sessions each blocks directly and in all, and the longest wait among
-- them. PG13 has no pg_locks.waitstart: a wait is measured from the start of the waiting
-- query, an upper bound of the real wait.
-- The chain is walked as in locks_blocking.sql. pg_blocking_pids() briefly locks the whole
-- lock manager, so it is only called for sessions waiting on a heavyweight lock right now.
-- A prepared transaction that blocks shows as pid 0 with no session details.
-- The head's last query is masked as in sessions.sql.
WITH RECURSIVE waiting AS (
    SELECT a.pid, pg_blocking_pids(a.pid) AS blockers,
           extract(epoch FROM clock_timestamp() - a.query_start) AS wait_seconds
    FROM pg_stat_activity a
    WHERE a.wait_event_type = 'Lock'
), edges AS (
    SELECT pid AS waiter, unnest(blockers) AS blocker FROM waiting
), roots AS (
    SELECT DISTINCT blocker AS pid FROM edges
    WHERE blocker NOT IN (SELECT waiter FROM edges)
), chain(root, pid, depth, path) AS (
    SELECT pid, pid, 0, ARRAY[pid] FROM roots
    UNION ALL
    SELECT c.root, e.waiter, c.depth + 1, c.path || e.waiter
    FROM chain c JOIN edges e ON e.blocker = c.pid
    WHERE e.waiter <> ALL (c.path)
), blocked AS (
    SELECT c.root,
           count(DISTINCT c.pid) FILTER (WHERE c.depth = 1) AS direct_sessions,
           count(DISTINCT c.pid) AS blocked_sessions,
           greatest(0, max(w.wait_seconds)) AS blocking_seconds
    FROM chain c JOIN waiting w ON w.pid = c.pid
    WHERE c.depth > 0
    GROUP BY c.root
)
SELECT b.root AS pid,
       a.usename,
       a.application_name,
       host(a.client_addr) AS client_addr,
       a.datname,
       a.state,
       b.direct_sessions,
       b.blocked_sessions,
       b.blocking_seconds,
       greatest(0, extract(epoch FROM clock_timestamp() - a.xact_start)) AS xact_seconds,
       left(btrim(regexp_replace(
                regexp_replace(left(a.query, 1000), '''([^'']|'''')*(''|$)', '''***''', 'g'),
                '\s+', ' ', 'g')), 120) AS query
FROM blocked b
LEFT JOIN pg_stat_activity a ON a.pid = b.root
ORDER BY b.blocked_sessions DESC, b.blocking_seconds DESC, b.root
LIMIT %s
