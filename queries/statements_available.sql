-- statements_available: the schema pg_stat_statements is installed in (NULL when it is not
-- created in this database), its version, shared_preload_libraries (NULL when this role may
-- not see it) and whether this role may call the function and read every role's entries.
-- Every supported version (13+). Asked before touching the view because a failing statement
-- would abort the run's read-only transaction and log an error on the server every run.
-- The server collector keeps this row for the findings, which name the database.
SELECT current_database() AS datname,
       n.nspname AS schema,
       e.extversion,
       -- who may see it, as pg_settings decides (reading that view builds every setting)
       CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE')
            THEN current_setting('shared_preload_libraries') END AS preload,
       pg_has_role('pg_read_all_stats', 'USAGE') AS read_all_stats,
       EXISTS (SELECT FROM pg_proc p
               WHERE p.pronamespace = e.extnamespace AND p.proname = 'pg_stat_statements'
                 AND has_function_privilege(p.oid, 'EXECUTE')) AS can_execute
FROM (VALUES (1)) AS one(x)
LEFT JOIN pg_extension e ON e.extname = 'pg_stat_statements'
LEFT JOIN pg_namespace n ON n.oid = e.extnamespace
