-- connections_limits (PG16+): reserved_connections (for pg_use_reserved_connections) was
-- added beside superuser_reserved_connections.
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved,
       current_setting('reserved_connections')::int AS reserved,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS used
