-- bloat: per table of the current database, an estimate of the space its heap wastes, for the
-- table_bloat check (monitor/findings/checks/bloat.py). Every supported version (13+).
-- Parameters: min_bytes (pre-filter on the actual size), limit (rows returned).
--
-- A statistics-based estimate, cheap on big catalogs: the actual size is relpages times the
-- block size (set by VACUUM and ANALYZE; no size function, so no lock on any table); the
-- expected size packs reltuples rows of the width pg_stats gives (avg_width weighted by
-- 1 - null_frac per column) plus the tuple header (23 bytes, a null bitmap when a column
-- has nulls, rounded to 8 bytes), the 4-byte line pointer, the 24-byte page header and the
-- table's fillfactor into whole pages. Waste = actual - expected. TOAST is not counted.
-- Skipped: tables never analyzed (reltuples < 0, PG14+) and tables without statistics for
-- every column (no pg_stats row: never analyzed, column added since, or a column the
-- monitoring role may not SELECT, since pg_stats shows only those; GRANT SELECT or
-- pg_read_all_data makes them visible), as a partial width would invent bloat.
-- Bounded: tables of at least min_bytes, the `limit` wasting most. Catalogs, system schemas
-- and temporary tables are skipped.
WITH params AS (
    SELECT current_setting('block_size')::bigint AS block_size,
           %s::bigint AS min_bytes, %s::int AS row_limit
), tables AS (
    SELECT c.oid, n.nspname AS schemaname, c.relname, c.reltuples::float8 AS reltuples,
           c.relpages::bigint * p.block_size AS actual_bytes, p.block_size,
           coalesce((SELECT max(split_part(o, '=', 2))::int FROM unnest(c.reloptions) o
                     WHERE o LIKE 'fillfactor=%%'), 100) AS fillfactor
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN params p
    WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't' AND c.reltuples >= 0
      AND c.relpages::bigint * p.block_size >= p.min_bytes
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_toast%%'
), widths AS (
    SELECT t.oid,
           count(*) AS columns,
           count(s.attname) AS columns_with_stats,
           sum((1 - s.null_frac) * s.avg_width) AS data_width,
           bool_or(s.null_frac > 0) AS has_nulls
    FROM tables t
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_stats s
           ON s.schemaname = t.schemaname AND s.tablename = t.relname AND s.attname = a.attname
          AND NOT s.inherited
    GROUP BY t.oid
), estimates AS (
    SELECT t.*, w.data_width,
           -- header and bitmap rounded to 8 bytes, then the data, then the line pointer
           8 * ceil((23 + CASE WHEN w.has_nulls THEN ceil(w.columns / 8.0) ELSE 0 END) / 8.0)
               + 8 * ceil(w.data_width / 8.0) + 4 AS row_bytes
    FROM tables t
    JOIN widths w ON w.oid = t.oid
    WHERE w.columns = w.columns_with_stats
), expected AS (
    SELECT e.*,
           ceil(e.reltuples / greatest(floor((e.block_size - 24) * e.fillfactor / 100.0
                                             / e.row_bytes), 1))::float8
               * e.block_size AS expected_bytes
    FROM estimates e
)
SELECT current_database() AS datname, x.schemaname, x.relname,
       x.actual_bytes::float8 AS actual_bytes, x.expected_bytes,
       greatest(x.actual_bytes - x.expected_bytes, 0)::float8 AS wasted_bytes,
       x.reltuples, round(x.data_width)::float8 AS row_width, x.fillfactor,
       extract(epoch FROM greatest(st.last_analyze, st.last_autoanalyze))::float8 AS last_analyzed,
       extract(epoch FROM now())::float8 AS now
FROM expected x
LEFT JOIN pg_stat_user_tables st ON st.relid = x.oid
ORDER BY greatest(x.actual_bytes - x.expected_bytes, 0) DESC, x.schemaname, x.relname
LIMIT (SELECT row_limit FROM params)
