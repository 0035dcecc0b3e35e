-- vacuum_freeze: the tables of the current database with the oldest unfrozen transaction
-- ID and the oldest multixact ID (the five of each), which hold back the database's
-- datfrozenxid / datminmxid: the ones a wraparound finding names to VACUUM (FREEZE).
-- Every supported version (13+).
-- TOAST tables count (they are vacuumed with their table, under their table's name), so
-- do materialized views and catalogs. Temporary tables of other sessions count too (only
-- their session can vacuum them) and are flagged. Catalogs only: no lock on user tables.
WITH rels AS (
    -- a table and its TOAST table are one row, with the older of their ages
    SELECT coalesce(t.oid, c.oid) AS oid,
           max(age(c.relfrozenxid)) AS xid_age, max(mxid_age(c.relminmxid)) AS mxid_age
    FROM pg_class c
    LEFT JOIN pg_class t ON c.relkind = 't' AND t.reltoastrelid = c.oid
    WHERE c.relkind IN ('r', 'm', 't')
    GROUP BY 1
), ranked AS (
    SELECT *,
           row_number() OVER (ORDER BY xid_age DESC, oid) AS by_xid,
           row_number() OVER (ORDER BY mxid_age DESC, oid) AS by_mxid
    FROM rels
)
SELECT current_database() AS datname, n.nspname AS schemaname, c.relname,
       c.relpersistence = 't' AS temporary, r.xid_age, r.mxid_age
FROM ranked r
JOIN pg_class c ON c.oid = r.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.by_xid <= 5 OR r.by_mxid <= 5
ORDER BY r.xid_age DESC, r.mxid_age DESC
