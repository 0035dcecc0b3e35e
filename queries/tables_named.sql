-- tables_named: the counters of queries/tables.sql for the tables a ranking named, read
-- between rankings (monitor/collectors/tables.py); same columns, no remainder. Every
-- supported version.
-- Parameters: exact_sizes (false = no sizes), relids (the tables to read).
--
-- Built for one thing, reading known tables by OID, it costs less than half of what
-- tables.sql costs for the same tables: no catalog estimates (the table and index pages
-- of every index), no window over the rows, and the index counters summed in one pass
-- over the wanted tables' indexes. Sizes are NULL unless measured: the collector then
-- reports the last measurement, or the ranking's estimate for a table it has not
-- measured yet.
--
-- Exact sizes are skipped for a table when it, its TOAST table or one of their indexes has
-- an ACCESS EXCLUSIVE lock held or awaited (see tables.sql for why).
WITH params AS (
    SELECT %s::boolean AS exact_sizes, %s::oid[] AS relids
), wanted AS (
    SELECT c.oid, n.nspname AS schemaname, c.relname, c.reltoastrelid
    FROM unnest((SELECT relids FROM params)) AS r(oid)
    JOIN pg_class c ON c.oid = r.oid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm', 'p') AND c.relpersistence <> 't'
), exclusive AS (
    SELECT relation AS oid
    FROM pg_locks
    WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
), index_sums AS (
    -- per table and per TOAST table, over its indexes
    SELECT x.indrelid AS oid,
           sum(pg_stat_get_numscans(x.indexrelid))::bigint AS scans,
           sum(pg_stat_get_tuples_fetched(x.indexrelid))::bigint AS tup_fetch,
           sum(pg_stat_get_blocks_fetched(x.indexrelid)
               - pg_stat_get_blocks_hit(x.indexrelid))::bigint AS blks_read,
           sum(pg_stat_get_blocks_hit(x.indexrelid))::bigint AS blks_hit,
           bool_or(x.indexrelid IN (SELECT oid FROM exclusive)) AS locked
    FROM wanted w
    JOIN pg_index x ON x.indrelid IN (w.oid, w.reltoastrelid)
    GROUP BY x.indrelid
), read AS (
    SELECT w.oid, w.schemaname, w.relname, w.reltoastrelid,
           ci.scans AS idx_scan, ci.tup_fetch AS idx_tup_fetch,
           ci.blks_read AS idx_blks_read, ci.blks_hit AS idx_blks_hit,
           ti.blks_read AS tidx_blks_read, ti.blks_hit AS tidx_blks_hit,
           p.exact_sizes
               AND NOT EXISTS (SELECT FROM exclusive e WHERE e.oid IN (w.oid, w.reltoastrelid))
               AND NOT coalesce(ci.locked OR ti.locked, ci.locked, ti.locked, false) AS measure
    FROM wanted w
    CROSS JOIN params p
    LEFT JOIN index_sums ci ON ci.oid = w.oid
    LEFT JOIN index_sums ti ON ti.oid = w.reltoastrelid
)
SELECT current_database() AS datname, r.oid AS relid, r.schemaname, r.relname,
       pg_stat_get_numscans(r.oid) AS seq_scan,
       pg_stat_get_tuples_returned(r.oid) AS seq_tup_read,
       coalesce(r.idx_scan, 0) AS idx_scan,
       coalesce(r.idx_tup_fetch + pg_stat_get_tuples_fetched(r.oid), 0) AS idx_tup_fetch,
       pg_stat_get_tuples_inserted(r.oid) AS n_tup_ins,
       pg_stat_get_tuples_updated(r.oid) AS n_tup_upd,
       pg_stat_get_tuples_deleted(r.oid) AS n_tup_del,
       pg_stat_get_tuples_hot_updated(r.oid) AS n_tup_hot_upd,
       pg_stat_get_live_tuples(r.oid) AS n_live_tup,
       pg_stat_get_dead_tuples(r.oid) AS n_dead_tup,
       pg_stat_get_mod_since_analyze(r.oid) AS n_mod_since_analyze,
       pg_stat_get_vacuum_count(r.oid) AS vacuum_count,
       pg_stat_get_autovacuum_count(r.oid) AS autovacuum_count,
       pg_stat_get_analyze_count(r.oid) AS analyze_count,
       pg_stat_get_autoanalyze_count(r.oid) AS autoanalyze_count,
       coalesce(extract(epoch FROM pg_stat_get_last_vacuum_time(r.oid)), 0)::float8
           AS last_vacuum,
       coalesce(extract(epoch FROM pg_stat_get_last_autovacuum_time(r.oid)), 0)::float8
           AS last_autovacuum,
       coalesce(extract(epoch FROM pg_stat_get_last_analyze_time(r.oid)), 0)::float8
           AS last_analyze,
       coalesce(extract(epoch FROM pg_stat_get_last_autoanalyze_time(r.oid)), 0)::float8
           AS last_autoanalyze,
       CASE WHEN r.measure THEN pg_table_size(r.oid) END AS table_size_bytes,
       CASE WHEN r.measure THEN pg_indexes_size(r.oid) END AS index_size_bytes,
       coalesce(pg_stat_get_blocks_fetched(r.oid) - pg_stat_get_blocks_hit(r.oid), 0)
           AS heap_blks_read,
       coalesce(pg_stat_get_blocks_hit(r.oid), 0) AS heap_blks_hit,
       coalesce(r.idx_blks_read, 0) AS idx_blks_read,
       coalesce(r.idx_blks_hit, 0) AS idx_blks_hit,
       -- reltoastrelid is 0 without a TOAST table; the functions then return 0
       coalesce(pg_stat_get_blocks_fetched(r.reltoastrelid)
                - pg_stat_get_blocks_hit(r.reltoastrelid), 0) AS toast_blks_read,
       coalesce(pg_stat_get_blocks_hit(r.reltoastrelid), 0) AS toast_blks_hit,
       coalesce(r.tidx_blks_read, 0) AS tidx_blks_read,
       coalesce(r.tidx_blks_hit, 0) AS tidx_blks_hit
FROM read r
