-- tables_named: the counters of queries/tables.sql for the tables a ranking named, read
-- between rankings (monitor/collectors/tables.py); same columns, no remainder. Every
-- supported version.
-- Parameters: exact_sizes (false = no sizes measured), then one array element per table:
-- relids (the tables to read), toast_indexrelids (their TOAST index, as the ranking found
-- it; NULL without one), table_sizes and index_sizes (what to report unless measured: the
-- last measurement, else the ranking's estimate).
--
-- Built for one thing, reading known tables by OID, it costs less than half of what
-- tables.sql costs for the same tables: no catalog estimates (the table and index pages
-- of every index), no window over the rows, and each table's index counters summed over
-- its own indexes, found through pg_index's index on indrelid (a third less time than one
-- grouped pass over all their indexes at 200 tables). The TOAST index comes from the
-- ranking instead: looking it up the same way was another third of the time. It only
-- changes when the TOAST table is rebuilt (VACUUM FULL, CLUSTER, REINDEX CONCURRENTLY),
-- which starts its counters from zero anyway; until the next ranking its counters read 0.
-- pg_locks is read only when sizes are measured. Times go through date_part, which
-- returns float8: extract has returned numeric since PostgreSQL 14, and converting 800 of
-- them took 7 per cent of the query. The index counters are summed as float8, not into
-- numeric: exact below 2^53, which Prometheus' float64 samples cannot exceed exactly
-- either, and 6 per cent less time.
--
-- Exact sizes are skipped for a table when it, its TOAST table or one of their indexes has
-- an ACCESS EXCLUSIVE lock held or awaited (see tables.sql for why).
WITH params AS (
    SELECT %s::boolean AS exact_sizes
), exclusive AS (
    SELECT relation AS oid
    FROM pg_locks
    WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND (SELECT exact_sizes FROM params)
), read AS (
    SELECT c.oid, n.nspname AS schemaname, c.relname, c.reltoastrelid, r.toast_indexrelid,
           r.table_size, r.index_size,
           ci.scans AS idx_scan, ci.tup_fetch AS idx_tup_fetch,
           ci.blks_read AS idx_blks_read, ci.blks_hit AS idx_blks_hit,
           p.exact_sizes AND NOT EXISTS (
               SELECT FROM exclusive e
               WHERE e.oid IN (c.oid, c.reltoastrelid)
                  OR e.oid IN (SELECT indexrelid FROM pg_index
                               WHERE indrelid IN (c.oid, c.reltoastrelid))
           ) AS measure
    FROM params p
    CROSS JOIN unnest(%s::oid[], %s::oid[], %s::bigint[], %s::bigint[])
        AS r(oid, toast_indexrelid, table_size, index_size)
    JOIN pg_class c ON c.oid = r.oid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL (
        SELECT sum(pg_stat_get_numscans(x.indexrelid)::float8) AS scans,
               sum(pg_stat_get_tuples_fetched(x.indexrelid)::float8) AS tup_fetch,
               sum((pg_stat_get_blocks_fetched(x.indexrelid)
                    - pg_stat_get_blocks_hit(x.indexrelid))::float8) AS blks_read,
               sum(pg_stat_get_blocks_hit(x.indexrelid)::float8) AS blks_hit
        FROM pg_index x WHERE x.indrelid = c.oid
    ) ci
    WHERE c.relkind IN ('r', 'm', 'p') AND c.relpersistence <> 't'
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
       coalesce(date_part('epoch', pg_stat_get_last_vacuum_time(r.oid)), 0)
           AS last_vacuum,
       coalesce(date_part('epoch', pg_stat_get_last_autovacuum_time(r.oid)), 0)
           AS last_autovacuum,
       coalesce(date_part('epoch', pg_stat_get_last_analyze_time(r.oid)), 0)
           AS last_analyze,
       coalesce(date_part('epoch', pg_stat_get_last_autoanalyze_time(r.oid)), 0)
           AS last_autoanalyze,
       CASE WHEN r.measure THEN pg_table_size(r.oid) ELSE r.table_size END AS table_size_bytes,
       CASE WHEN r.measure THEN pg_indexes_size(r.oid) ELSE r.index_size END AS index_size_bytes,
       coalesce(pg_stat_get_blocks_fetched(r.oid) - pg_stat_get_blocks_hit(r.oid), 0)
           AS heap_blks_read,
       coalesce(pg_stat_get_blocks_hit(r.oid), 0) AS heap_blks_hit,
       coalesce(r.idx_blks_read, 0) AS idx_blks_read,
       coalesce(r.idx_blks_hit, 0) AS idx_blks_hit,
       -- reltoastrelid is 0 without a TOAST table; the functions then return 0
       coalesce(pg_stat_get_blocks_fetched(r.reltoastrelid)
                - pg_stat_get_blocks_hit(r.reltoastrelid), 0) AS toast_blks_read,
       coalesce(pg_stat_get_blocks_hit(r.reltoastrelid), 0) AS toast_blks_hit,
       coalesce(pg_stat_get_blocks_fetched(r.toast_indexrelid)
                - pg_stat_get_blocks_hit(r.toast_indexrelid), 0) AS tidx_blks_read,
       coalesce(pg_stat_get_blocks_hit(r.toast_indexrelid), 0) AS tidx_blks_hit,
       r.toast_indexrelid
FROM read r
