-- index_catalog: every user index of the current database as pg_index describes it, for the
-- index heuristics (monitor/findings/checks/indexes.py), which compare indexes column by
-- column. PG15+: as index_catalog.sql, plus NULLS NOT DISTINCT (indnullsnotdistinct).
-- Parameter: exact (false = do not deparse expressions, predicates and definitions).
--
-- All indexes, not a top N: a duplicate is only found by looking at every index of a table.
-- The rows stay small: the key arrays as integers (int2vector and oidvector as 1-based
-- arrays), sizes from pg_class.relpages (set by VACUUM, ANALYZE, CREATE INDEX and REINDEX;
-- reading them locks nothing), scans of this node from pg_stat_user_indexes (a standby
-- counts its own). pg_get_expr and pg_get_indexdef open the table to name its columns, so
-- they would wait behind an ACCESS EXCLUSIVE lock held or awaited on the table or index:
-- such indexes get NULL texts (the checks skip them until the next run), and so does every
-- index when a lock taken after pg_locks was read made the collector run this again with
-- exact false. The definition (for rollback SQL) is deparsed only for indexes a check may
-- report: invalid, never scanned here, or sharing their first column with another index.
-- building: a CREATE INDEX CONCURRENTLY is building this index, or a REINDEX CONCURRENTLY
-- runs on its table (whose new index is invalid until it is swapped in).
-- Nothing here changes from one run to the next unless the index does (or is scanned), so
-- the collector can keep the last run's row objects (monitor/collectors/index_catalog.py);
-- since when the scans have been counted is in index_catalog_window.sql.
-- Temporary relations are skipped: they belong to one session and come and go with it.
WITH params AS (
    SELECT %s::boolean AS exact, current_setting('block_size')::bigint AS block_size,
           (SELECT oid FROM pg_database WHERE datname = current_database()) AS datid
), exclusive AS (
    SELECT DISTINCT relation AS oid
    FROM pg_locks
    WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
      AND database = (SELECT datid FROM params)
), progress AS (
    SELECT index_relid, relid, command
    FROM pg_stat_progress_create_index
    WHERE datid = (SELECT datid FROM params)
), indexes AS (
    SELECT x.indexrelid, x.indrelid, n.nspname AS schemaname, t.relname, i.relname AS indexrelname,
           i.relkind = 'I' AS partitioned, am.amname,
           x.indnkeyatts, x.indisunique, x.indisprimary, x.indisexclusion, x.indisreplident,
           x.indisvalid, x.indkey, x.indclass, x.indcollation, x.indoption,
           x.indexprs IS NOT NULL AS has_exprs, x.indpred IS NOT NULL AS has_pred,
           greatest(i.relpages, 0) * p.block_size AS size_bytes,
           i.relispartition, p.exact,
           EXISTS (SELECT FROM exclusive e WHERE e.oid IN (x.indexrelid, x.indrelid)) AS locked,
           count(*) OVER (PARTITION BY x.indrelid, x.indkey[0]) > 1 AS shares_first_column
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_am am ON am.oid = i.relam
    CROSS JOIN params p
    WHERE i.relpersistence <> 't'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_toast%%'
)
SELECT current_database() AS datname, ix.indexrelid, ix.indrelid,
       ix.schemaname, ix.relname, ix.indexrelname, ix.partitioned,
       (SELECT h.inhparent FROM pg_inherits h WHERE ix.relispartition AND h.inhrelid = ix.indexrelid)
           AS parent_indexrelid,
       ix.amname,
       string_to_array(ix.indkey::text, ' ')::int2[] AS key,
       ix.indnkeyatts AS nkey,
       string_to_array(ix.indclass::text, ' ')::oid[] AS opclasses,
       string_to_array(ix.indcollation::text, ' ')::oid[] AS collations,
       string_to_array(ix.indoption::text, ' ')::int2[] AS options,
       ix.indisunique AS is_unique, x.indnullsnotdistinct AS nulls_not_distinct,
       ix.indisprimary AS is_primary, ix.indisexclusion AS is_exclusion,
       ix.indisreplident AS is_replident,
       c.contype::text AS constraint_type, c.conname AS constraint_name,
       EXISTS (SELECT FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = ix.indexrelid)
           AS referenced_by_fk,
       ix.indisvalid AS is_valid,
       EXISTS (SELECT FROM progress g
               WHERE g.index_relid = ix.indexrelid
                  OR (g.relid = ix.indrelid AND g.command = 'REINDEX CONCURRENTLY')) AS building,
       ix.has_exprs,
       CASE WHEN ix.has_exprs AND ix.exact AND NOT ix.locked
            THEN pg_get_expr(x.indexprs, x.indrelid) END AS exprs,
       ix.has_pred,
       CASE WHEN ix.has_pred AND ix.exact AND NOT ix.locked
            THEN pg_get_expr(x.indpred, x.indrelid) END AS pred,
       CASE WHEN ix.exact AND NOT ix.locked
                 AND (NOT ix.indisvalid OR coalesce(s.idx_scan, 0) = 0 OR ix.shares_first_column)
            THEN pg_get_indexdef(ix.indexrelid) END AS indexdef,
       coalesce(s.idx_scan, 0)::float8 AS idx_scan,
       ix.size_bytes::float8 AS size_bytes
FROM indexes ix
JOIN pg_index x ON x.indexrelid = ix.indexrelid
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = ix.indexrelid
LEFT JOIN pg_constraint c
       ON c.conindid = ix.indexrelid AND c.conrelid = ix.indrelid AND c.contype IN ('p', 'u', 'x')
ORDER BY ix.schemaname, ix.relname, ix.indexrelname
