-- bloat_indexes: per btree index of the current database, an estimate of the space it
-- wastes, for the index_bloat check (monitor/findings/checks/bloat.py). Every supported
-- version (13+). Parameters: min_bytes (pre-filter on the actual size), limit (rows returned).
--
-- As queries/bloat.sql for tables: the actual size is relpages times the block size (no size
-- function, no lock); the expected size packs reltuples index entries (8-byte entry header
-- plus the key columns' avg_width from pg_stats of the table, weighted by 1 - null_frac,
-- rounded to 8 bytes, plus the 4-byte line pointer) into pages of block size less the
-- 24-byte header and 16-byte btree special space, filled to the index's fillfactor
-- (default 90), plus the metapage. Included (INCLUDE) columns count; upper levels do not.
-- Skipped: non-btree indexes, expression indexes (no column statistics), indexes never
-- built or analyzed (reltuples < 0), and indexes on a table without statistics for every
-- indexed column (never analyzed, or not visible to the monitoring role: pg_stats shows only
-- columns it may SELECT). Bounded: indexes of at least min_bytes, the `limit` wasting most.
WITH params AS (
    SELECT current_setting('block_size')::bigint AS block_size,
           %s::bigint AS min_bytes, %s::int AS row_limit
), indexes AS (
    SELECT x.indexrelid, x.indrelid, x.indkey, n.nspname AS schemaname, t.relname,
           i.relname AS indexrelname, i.reltuples::float8 AS reltuples,
           i.relpages::bigint * p.block_size AS actual_bytes, p.block_size,
           coalesce((SELECT max(split_part(o, '=', 2))::int FROM unnest(i.reloptions) o
                     WHERE o LIKE 'fillfactor=%%'), 90) AS fillfactor
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_am am ON am.oid = i.relam
    CROSS JOIN params p
    WHERE am.amname = 'btree' AND i.relkind = 'i' AND i.relpersistence <> 't'
      AND i.reltuples >= 0 AND x.indexprs IS NULL
      AND i.relpages::bigint * p.block_size >= p.min_bytes
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_toast%%'
), widths AS (
    SELECT ix.indexrelid,
           count(*) AS columns,
           count(s.attname) AS columns_with_stats,
           sum((1 - s.null_frac) * s.avg_width) AS data_width,
           bool_or(s.null_frac > 0) AS has_nulls
    FROM indexes ix
    CROSS JOIN LATERAL unnest(string_to_array(ix.indkey::text, ' ')::int2[]) k(attnum)
    JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
    LEFT JOIN pg_stats s
           ON s.schemaname = ix.schemaname AND s.tablename = ix.relname
          AND s.attname = a.attname AND NOT s.inherited
    GROUP BY ix.indexrelid
), expected AS (
    SELECT ix.*, w.data_width,
           ceil(ix.reltuples / greatest(floor(
               (ix.block_size - 24 - 16) * ix.fillfactor / 100.0
               / (8 * ceil((8 + CASE WHEN w.has_nulls THEN 4 ELSE 0 END + w.data_width) / 8.0)
                  + 4)), 1))::float8 * ix.block_size + ix.block_size AS expected_bytes
    FROM indexes ix
    JOIN widths w ON w.indexrelid = ix.indexrelid
    WHERE w.columns = w.columns_with_stats
)
SELECT current_database() AS datname, x.schemaname, x.relname, x.indexrelname,
       x.actual_bytes::float8 AS actual_bytes, x.expected_bytes,
       greatest(x.actual_bytes - x.expected_bytes, 0)::float8 AS wasted_bytes,
       x.reltuples, round(x.data_width)::float8 AS key_width, x.fillfactor,
       extract(epoch FROM greatest(st.last_analyze, st.last_autoanalyze))::float8 AS last_analyzed,
       extract(epoch FROM now())::float8 AS now
FROM expected x
LEFT JOIN pg_stat_user_tables st ON st.relid = x.indrelid
ORDER BY greatest(x.actual_bytes - x.expected_bytes, 0) DESC, x.schemaname, x.indexrelname
LIMIT (SELECT row_limit FROM params)
