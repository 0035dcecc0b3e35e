-- locks: lock entries per database and mode, and how many of them are not granted.
-- Every supported version. Databases x modes, so an emptied group reads 0; modes are
-- lower-cased as postgres_exporter does, so its dashboards and rules keep matching.
WITH modes(mode) AS (
    VALUES ('AccessShareLock'), ('RowShareLock'), ('RowExclusiveLock'),
           ('ShareUpdateExclusiveLock'), ('ShareLock'), ('ShareRowExclusiveLock'),
           ('ExclusiveLock'), ('AccessExclusiveLock'), ('SIReadLock')
), held AS (
    SELECT database, mode, count(*) AS locks, count(*) FILTER (WHERE NOT granted) AS waiting
    FROM pg_locks
    WHERE database IS NOT NULL
    GROUP BY database, mode
)
SELECT d.datname, lower(m.mode) AS mode,
       coalesce(h.locks, 0) AS locks,
       coalesce(h.waiting, 0) AS waiting
FROM pg_database d
CROSS JOIN modes m
LEFT JOIN held h ON h.database = d.oid AND h.mode = m.mode
WHERE NOT d.datistemplate
ORDER BY 1, 2
