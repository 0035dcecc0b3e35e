-- database_catalog: per database, its size on disk, connection limit and how old its oldest
-- unfrozen transaction ID and multixact ID are. Every supported version (13+).
-- pg_database_size() fails (and would abort the run's transaction) without CONNECT on the
-- database or membership in pg_read_all_stats (pg_monitor has it), so it is only called
-- when allowed. Databases that refuse connections (template0) are skipped, as
-- postgres_exporter does: their size never changes and autovacuum keeps them frozen.
-- pg_database_size() lists and stats every file of the database (0.4 s at 20,000 tables
-- here), so sizes are measured for every database only when the first parameter is true,
-- and otherwise only for the databases named in the second (those new since the last
-- measurement); monitor/collectors/database.py decides.
SELECT datname,
       CASE WHEN (%s OR datname = ANY (%s::name[]))
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
