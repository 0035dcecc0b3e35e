-- index_catalog_fkeys: every foreign key of the current database declared on a user table
-- (not the copies PostgreSQL makes on each partition), with its columns in constraint order
-- and the size of the referencing table, for the missing_fk_index heuristic (which finds
-- the table's indexes in index_catalog). Every supported version (13+).
-- The size is pg_class.relpages (as of the last VACUUM, ANALYZE or CREATE INDEX), which
-- reads catalogs only and locks nothing; a partitioned table weighs the sum of its
-- partitions, found through pg_partition_ancestors (which takes no lock either).
-- Temporary tables are skipped: they belong to one session and come and go with it.
WITH params AS (
    SELECT current_setting('block_size')::bigint AS block_size
), fkeys AS (
    SELECT c.oid, c.conname, c.conrelid, c.confrelid, c.conkey
    FROM pg_constraint c
    JOIN pg_class t ON t.oid = c.conrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE c.contype = 'f' AND c.conparentid = 0 AND t.relpersistence <> 't'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
), partitions AS (
    -- every partition's pages counted again for each ancestor that has a foreign key
    SELECT a.relid AS oid, sum(greatest(t.relpages, 0)) AS pages
    FROM pg_class t
    CROSS JOIN LATERAL pg_partition_ancestors(t.oid) a
    WHERE t.relispartition AND t.relkind = 'r' AND a.relid <> t.oid
      AND a.relid IN (SELECT conrelid FROM fkeys)
    GROUP BY a.relid
)
SELECT current_database() AS datname, f.conname, f.conrelid,
       n.nspname AS schemaname, t.relname, t.relkind = 'p' AS partitioned,
       f.conkey AS key,
       ARRAY(SELECT a.attname::text
             FROM unnest(f.conkey) WITH ORDINALITY AS k(attnum, position)
             JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.attnum
             ORDER BY k.position) AS column_names,
       rn.nspname AS ref_schemaname, r.relname AS ref_relname,
       ((greatest(t.relpages, 0) + coalesce(pt.pages, 0)) * p.block_size)::float8 AS table_bytes
FROM fkeys f
JOIN pg_class t ON t.oid = f.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class r ON r.oid = f.confrelid
JOIN pg_namespace rn ON rn.oid = r.relnamespace
LEFT JOIN partitions pt ON pt.oid = f.conrelid
CROSS JOIN params p
ORDER BY n.nspname, t.relname, f.conname
