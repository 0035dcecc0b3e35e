-- connections_limits: max_connections and the slots held back from ordinary roles, and how
-- many client sessions are open now. PG13-15 have only superuser_reserved_connections.
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved,
       0 AS reserved,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS used
