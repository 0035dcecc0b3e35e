-- locks: lock entries per database and mode, and how many of them are not granted.
-- Every supported version. Databases x modes, so an emptied group reads 0; modes are
-- lower-cased as postgres_exporter does, so its dashboards and rules keep matching.
WITH modes(mode) AS (
    VALUES ('AccessShareLock'), ('RowShareLock'), ('RowExclusiveLock'),
           ('ShareUpdateExclusiveLock'), ('ShareLock'), ('ShareRowExclusiveLock'),
           ('ExclusiveLock'), ('AccessExclusiveLock'), ('SIReadLock')
), held AS (
    -- Lock counts cover what is tied to a database (relations, pages, tuples), as
    -- postgres_exporter counts them. Waits on transaction IDs have no database in pg_locks,
    -- yet they are the commonest waits (row conflicts): they are charged to the database of
    -- the waiting session, looked up for that session alone (building all of
    -- pg_stat_activity took a quarter of the statement's time).
    SELECT coalesce(l.database, (SELECT a.datid FROM pg_stat_get_activity(l.pid) a))
               AS database,
           l.mode,
           count(*) FILTER (WHERE l.database IS NOT NULL) AS locks,
           count(*) FILTER (WHERE NOT l.granted) AS waiting
    FROM pg_locks l
    WHERE l.database IS NOT NULL OR NOT l.granted
    GROUP BY 1, 2
)
SELECT d.datname, lower(m.mode) AS mode,
       coalesce(h.locks, 0) AS locks,
       coalesce(h.waiting, 0) AS waiting
FROM pg_database d
CROSS JOIN modes m
LEFT JOIN held h ON h.database = d.oid AND h.mode = m.mode
WHERE NOT d.datistemplate
ORDER BY 1, 2
