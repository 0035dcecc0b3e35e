-- connections: client sessions per database and state, with the oldest transaction and the
-- longest-running query of each group. Every supported version (13+).
-- Shaped as databases x states so that a state that empties reads 0 instead of vanishing,
-- which keeps rate() and absent() in alert rules honest. Only client backends count:
-- background workers are not connections an operator can act on.
WITH states(state) AS (
    VALUES ('active'), ('idle'), ('idle in transaction'), ('idle in transaction (aborted)'),
           ('fastpath function call'), ('disabled')
), sessions AS (
    SELECT datname, state,
           count(*) AS sessions,
           max(extract(epoch FROM clock_timestamp() - xact_start)) AS max_tx_seconds,
           max(extract(epoch FROM clock_timestamp() - query_start))
               FILTER (WHERE state = 'active') AS max_query_seconds,
           max(extract(epoch FROM clock_timestamp() - state_change)) AS max_state_seconds
    FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
    GROUP BY datname, state
)
SELECT d.datname, st.state,
       coalesce(s.sessions, 0) AS sessions,
       coalesce(s.max_tx_seconds, 0) AS max_tx_seconds,
       coalesce(s.max_query_seconds, 0) AS max_query_seconds,
       coalesce(s.max_state_seconds, 0) AS max_state_seconds
FROM pg_database d
CROSS JOIN states st
LEFT JOIN sessions s ON s.datname = d.datname AND s.state = st.state
WHERE NOT d.datistemplate
ORDER BY 1, 2
