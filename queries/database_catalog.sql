-- database_catalog: per database, its size on disk, connection limit and how old its oldest
-- unfrozen transaction ID and multixact ID are. Every supported version (13+).
-- pg_database_size() fails (and would abort the run's transaction) without CONNECT on the
-- database or membership in pg_read_all_stats (pg_monitor has it), so it is only called
-- when allowed. Databases that refuse connections (template0) are skipped, as
-- postgres_exporter does: their size never changes and autovacuum keeps them frozen.
-- pg_database_size() lists and stats every file of the database (0.4 s at 20,000 tables
-- here), so sizes are measured only for the databases named in the first parameter (the
-- collector names those never measured, and those whose rows were written since their last
-- measurement: monitor/collectors/database.py), and for every database when the second
-- parameter (the last run that looked at WAL is old enough) is true and either the server
-- is a standby, whose statistics do not count the writes it replays, or WAL was written
-- since the position in the third parameter: a transaction counts its rows when it ends,
-- and a bulk load grows the database for hours before that.
WITH wal AS (
    SELECT CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_insert_lsn() END AS lsn
)
SELECT datname,
       CASE WHEN (datname = ANY (%s::name[])
                  OR (%s AND (pg_is_in_recovery()
                              OR (SELECT lsn FROM wal) IS DISTINCT FROM %s::pg_lsn)))
                 AND (has_database_privilege(oid, 'CONNECT')
                      OR pg_has_role('pg_read_all_stats', 'USAGE'))
            THEN pg_database_size(oid)
       END AS size_bytes,
       datconnlimit AS connection_limit,
       age(datfrozenxid) AS frozen_xid_age,
       mxid_age(datminmxid) AS min_mxid_age,
       (SELECT lsn FROM wal)::text AS wal_lsn
FROM pg_database
WHERE datallowconn
ORDER BY datname
