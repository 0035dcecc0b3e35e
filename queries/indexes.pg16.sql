-- indexes (PG16+): as indexes.sql, plus last_idx_scan (pg_stat_user_indexes has it from
-- PG16 on) as Unix seconds, 0 when never scanned since the statistics were reset.
-- See indexes.sql for the shape: top_n largest indexes (invalid ones first) named, the
-- rest summed into one row (schemaname '', relname and indexrelname 'other').
-- Parameters: top_n (NULL = no bound), exact_sizes (false = catalog estimates only).
--
-- Invalid indexes rank first, whatever their size, so that an alert on validity never
-- misses one hidden in the remainder; then size by pg_class.relpages (set by VACUUM,
-- ANALYZE and CREATE INDEX), which reads catalogs only and locks nothing. Partitioned
-- indexes are not in pg_stat_user_indexes (no storage, no scans) but are added here:
-- one left invalid because a partition lacks its index is worth an alert. They rank with
-- the sum over their partitions' indexes; their own size stays 0.
--
-- The exact size (pg_total_relation_size, all forks) is measured for the named rows only;
-- it briefly takes an ACCESS SHARE lock on the index, and would wait behind an ACCESS
-- EXCLUSIVE lock held or awaited by another session (REINDEX, DROP INDEX, or one on the
-- table, which usually precedes DDL on its indexes). Such indexes get the relpages
-- estimate instead; so does the remainder. A lock requested after pg_locks was read can
-- still make us wait: lock_timeout then cancels the statement and the collector runs it
-- again with exact_sizes false.
-- Temporary relations are skipped: they belong to one session and come and go with it.
WITH params AS (
    SELECT %s::int AS top_n, %s::boolean AS exact_sizes,
           current_setting('block_size')::bigint AS block_size
), exclusive AS (
    SELECT DISTINCT relation AS oid
    FROM pg_locks
    WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
), stats AS (
    SELECT indexrelid, relid, schemaname, relname, indexrelname,
           idx_scan, idx_tup_read, idx_tup_fetch,
           coalesce(extract(epoch FROM last_idx_scan), 0)::float8 AS last_idx_scan
    FROM pg_stat_user_indexes
    UNION ALL
    SELECT i.oid, c.oid, n.nspname, c.relname, i.relname, 0, 0, 0, 0
    FROM pg_class i
    JOIN pg_index x ON x.indexrelid = i.oid
    JOIN pg_class c ON c.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE i.relkind = 'I' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
), sized AS (
    SELECT i.oid, i.relispartition,
           greatest(i.relpages, 0) * p.block_size AS estimate
    FROM pg_class i
    CROSS JOIN params p
    WHERE i.relkind IN ('i', 'I') AND i.relpersistence <> 't'
), tree AS (
    -- every index partition's pages counted again for each of its ancestors
    SELECT a.relid AS oid, sum(s.estimate) AS weight
    FROM sized s
    CROSS JOIN LATERAL pg_partition_ancestors(s.oid) a
    WHERE s.relispartition AND a.relid <> s.oid
    GROUP BY a.relid
), ranked AS (
    SELECT st.*, z.estimate, x.indisunique, x.indisprimary, x.indisvalid,
           EXISTS (SELECT FROM exclusive e WHERE e.oid IN (st.indexrelid, st.relid)) AS locked,
           row_number() OVER (
               ORDER BY x.indisvalid, z.estimate + coalesce(tr.weight, 0) DESC,
                        st.idx_scan DESC, st.schemaname, st.relname, st.indexrelname
           ) <= coalesce(p.top_n, 2147483647) AS named
    FROM stats st
    JOIN sized z ON z.oid = st.indexrelid
    JOIN pg_index x ON x.indexrelid = st.indexrelid
    LEFT JOIN tree tr ON tr.oid = st.indexrelid
    CROSS JOIN params p
)
SELECT current_database() AS datname, r.schemaname, r.relname, r.indexrelname,
       r.idx_scan::float8 AS idx_scan,
       r.idx_tup_read::float8 AS idx_tup_read,
       r.idx_tup_fetch::float8 AS idx_tup_fetch,
       CASE WHEN p.exact_sizes AND NOT r.locked
            THEN coalesce(pg_total_relation_size(r.indexrelid), r.estimate)
            ELSE r.estimate END::float8 AS size_bytes,
       r.indisunique::int::float8 AS is_unique,
       r.indisprimary::int::float8 AS is_primary,
       r.indisvalid::int::float8 AS is_valid,
       r.last_idx_scan
FROM ranked r
CROSS JOIN params p
WHERE r.named
UNION ALL
-- the remainder: sums; no flags or scan time, which do not add up over unrelated indexes
SELECT current_database(), '', 'other', 'other',
       sum(idx_scan), sum(idx_tup_read), sum(idx_tup_fetch), sum(estimate),
       NULL, NULL, NULL, NULL
FROM ranked
WHERE NOT named
HAVING count(*) > 0
