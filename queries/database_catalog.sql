-- database_catalog: per database, its size on disk, connection limit and how old its oldest
-- unfrozen transaction ID and multixact ID are. Every supported version (13+).
-- pg_database_size() fails (and would abort the run's transaction) without CONNECT on the
-- database or membership in pg_read_all_stats (pg_monitor has it), so it is only called
-- when allowed. Databases that refuse connections (template0) are skipped, as
-- postgres_exporter does: their size never changes and autovacuum keeps them frozen.
-- pg_database_size() lists and stats every file of the database (0.4 s at 20,000 tables
-- here), so sizes are measured only when the parameter measure is true, and for the
-- databases not in the parameter known (the ones the collector has a measurement of).
SELECT datname,
       CASE WHEN (%s OR datname <> ALL (%s::name[]))
                 AND (has_database_privilege(oid, 'CONNECT')
                      OR pg_has_role('pg_read_all_stats', 'USAGE'))
            THEN pg_database_size(oid)
       END AS size_bytes,
       datconnlimit AS connection_limit,
       age(datfrozenxid) AS frozen_xid_age,
       mxid_age(datminmxid) AS min_mxid_age
FROM pg_database
WHERE datallowconn
ORDER BY datname
