-- bloat_hidden: per database, the tables of at least the pre-filter size (parameter 1, bytes)
-- whose column statistics this role may not read. pg_stats shows only columns the role can
-- SELECT, and pg_monitor grants no SELECT on user tables, so the bloat estimates silently
-- miss these tables; counting them lets the check say "not evaluated" instead of "healthy".
-- Catalogs only, no locks. Every supported version.
SELECT current_database() AS datname,
       count(*) AS hidden_tables,
       coalesce(sum(c.relpages::bigint * current_setting('block_size')::bigint), 0) AS hidden_bytes,
       current_user AS monitor_role
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp)'
  AND c.relpages::bigint * current_setting('block_size')::bigint >= %s
  AND NOT coalesce(has_table_privilege(c.oid, 'SELECT'), true)
