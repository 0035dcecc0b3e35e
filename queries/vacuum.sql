-- vacuum: per table of the current database, what the dead_tuples and vacuum_stale checks
-- judge: live and dead tuples, changes since the last vacuum, the last vacuum of either
-- kind, and the autovacuum settings that apply to it (its own reloptions, else the
-- server's). Every supported version (13+). Parameter: top_n (NULL = no bound).
--
-- Thresholds belong to the checks, so the query only pre-filters: tables with dead tuples,
-- inserts since their last vacuum, or autovacuum disabled; of those, the top_n by dead
-- tuples and the top_n vacuumed longest ago (never first), so neither kind of problem
-- hides the other. Catalogs only, no size functions: no lock on any user table.
-- stats_since is when this database's statistics started (its last reset, else the
-- server start; statistics survive clean restarts from PG15, so it is a lower bound), the
-- only age a never-vacuumed table can be given. Times are Unix seconds, now included, so
-- that the checks read ages without a clock of their own.
WITH options AS (
    SELECT c.oid,
           max(o.option_value) FILTER (WHERE o.option_name = 'autovacuum_enabled')
               AS autovacuum_enabled,
           max(o.option_value) FILTER (WHERE o.option_name = 'autovacuum_vacuum_threshold')
               AS vacuum_threshold,
           max(o.option_value) FILTER (WHERE o.option_name = 'autovacuum_vacuum_scale_factor')
               AS vacuum_scale_factor
    FROM pg_class c
    CROSS JOIN LATERAL pg_options_to_table(c.reloptions) o
    WHERE c.relkind IN ('r', 'm') AND c.reloptions IS NOT NULL
    GROUP BY c.oid
), candidates AS (
    SELECT st.relid, st.schemaname, st.relname, st.n_live_tup, st.n_dead_tup,
           st.n_ins_since_vacuum, st.n_mod_since_analyze,
           greatest(st.last_vacuum, st.last_autovacuum) AS last_vacuumed,
           coalesce(o.autovacuum_enabled::boolean, true) AS autovacuum_enabled,
           coalesce(o.vacuum_threshold::float8,
                    current_setting('autovacuum_vacuum_threshold')::float8) AS vacuum_threshold,
           coalesce(o.vacuum_scale_factor::float8,
                    current_setting('autovacuum_vacuum_scale_factor')::float8)
               AS vacuum_scale_factor
    FROM pg_stat_user_tables st
    JOIN pg_class c ON c.oid = st.relid
    LEFT JOIN options o ON o.oid = st.relid
    WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't'
), ranked AS (
    SELECT *,
           row_number() OVER (ORDER BY n_dead_tup DESC, schemaname, relname) AS by_dead,
           row_number() OVER (ORDER BY last_vacuumed NULLS FIRST, schemaname, relname)
               AS by_age
    FROM candidates
    WHERE n_dead_tup > 0 OR n_ins_since_vacuum > 0 OR NOT autovacuum_enabled
)
SELECT current_database() AS datname, r.schemaname, r.relname,
       r.n_live_tup, r.n_dead_tup, r.n_ins_since_vacuum, r.n_mod_since_analyze,
       extract(epoch FROM r.last_vacuumed)::float8 AS last_vacuumed,
       r.autovacuum_enabled, r.vacuum_threshold, r.vacuum_scale_factor,
       current_setting('autovacuum')::boolean AS autovacuum,
       extract(epoch FROM coalesce(
           (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()),
           pg_postmaster_start_time()))::float8 AS stats_since,
       extract(epoch FROM now())::float8 AS now
FROM ranked r
WHERE r.by_dead <= coalesce(%s::int, 2147483647) OR r.by_age <= coalesce(%s::int, 2147483647)
   OR NOT r.autovacuum_enabled
ORDER BY r.n_dead_tup DESC, r.schemaname, r.relname
