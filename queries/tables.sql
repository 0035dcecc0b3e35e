-- tables: per user table, the counters of pg_stat_user_tables and pg_statio_user_tables
-- plus table and index sizes, for the top_n largest tables of the current database; the
-- rest are summed into one row (schemaname '', relname 'other'). Every supported version.
-- Parameters: top_n (NULL = no bound), exact_sizes (false = catalog estimates only).
--
-- Most of the cost is the statistics functions called for every table and index (at
-- 20,000 tables and 80,000 indexes, 0.5 s of the 0.5 s), so the collector ranks rarely and
-- in between reads only the named tables, with tables_named.sql.
--
-- Ranking uses pg_class.relpages (as of the last VACUUM, ANALYZE or CREATE INDEX) of the
-- table, its TOAST table and all their indexes: it reads catalogs only, so it takes no
-- lock on user relations and builds no relcache entries for thousands of tables. A table
-- never vacuumed or analyzed ranks low until autovacuum gets to it.
-- Partitioned parents (no storage) rank with the sum over their partitions, so a big
-- partitioned table keeps its parent's row (the only place its manual ANALYZE shows:
-- autovacuum never analyzes partitioned parents). Their own sizes stay 0, as
-- pg_table_size() says, so sums over a database do not count partitions twice.
--
-- Exact sizes (pg_table_size, pg_indexes_size) are measured for the named rows only. Those
-- functions briefly take an ACCESS SHARE lock on the table, its TOAST table and every
-- index, and would wait behind an ACCESS EXCLUSIVE lock held or awaited by another session
-- (TRUNCATE, VACUUM FULL, most ALTER TABLE, REINDEX, LOCK TABLE). Such tables get the
-- relpages estimate instead; so does the remainder. A lock requested after pg_locks was
-- read can still make us wait: lock_timeout then cancels the statement and the collector
-- runs it again with exact_sizes false.
-- Temporary tables are skipped: they belong to one session and come and go with it.
-- toast_indexrelid: the TOAST table's index, which tables_named.sql reads by OID between
-- rankings.
--
-- The counters are read with the pg_stat_get_* functions that pg_stat_user_tables and
-- pg_statio_user_tables are made of, with the same NULL-as-0 results, in one pass over
-- pg_class and one over pg_index: the two views each aggregate over pg_index again, which
-- made this query about twice as slow at 20,000 tables.
WITH params AS (
    SELECT %s::int AS top_n, %s::boolean AS exact_sizes,
           current_setting('block_size')::bigint AS block_size
), wanted AS (
    SELECT c.oid, c.relname, c.relnamespace, c.relispartition, c.reltoastrelid, c.relpages
    FROM pg_class c
    WHERE c.relkind IN ('r', 'm', 'p') AND c.relpersistence <> 't'
), wanted_indexes AS (
    SELECT x.indexrelid, x.indrelid, i.relpages
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
), exclusive AS (
    SELECT DISTINCT relation AS oid
    FROM pg_locks
    WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
), index_sums AS (
    -- per table (and per TOAST table): its indexes' pages, whether one is locked, and the
    -- index counters the two views sum per table
    SELECT x.indrelid AS oid,
           sum(greatest(x.relpages, 0)) AS pages,
           bool_or(e.oid IS NOT NULL) AS locked,
           -- float8 sums, not numeric: see tables_named
           sum(pg_stat_get_numscans(x.indexrelid)::float8) AS scans,
           sum(pg_stat_get_tuples_fetched(x.indexrelid)::float8) AS tup_fetch,
           sum((pg_stat_get_blocks_fetched(x.indexrelid)
                - pg_stat_get_blocks_hit(x.indexrelid))::float8) AS blks_read,
           sum(pg_stat_get_blocks_hit(x.indexrelid)::float8) AS blks_hit,
           min(x.indexrelid) AS first_index
    FROM wanted_indexes x
    LEFT JOIN exclusive e ON e.oid = x.indexrelid
    GROUP BY x.indrelid
), sized AS (
    SELECT c.oid, n.nspname AS schemaname, c.relname, c.relispartition, c.reltoastrelid,
           (greatest(c.relpages, 0) + coalesce(greatest(t.relpages, 0), 0)
               + coalesce(ti.pages, 0)) * p.block_size AS table_estimate,
           coalesce(ci.pages, 0) * p.block_size AS index_estimate,
           EXISTS (SELECT FROM exclusive e WHERE e.oid IN (c.oid, c.reltoastrelid))
               OR coalesce(ci.locked, false) OR coalesce(ti.locked, false) AS locked,
           ci.scans AS idx_scan, ci.tup_fetch AS idx_tup_fetch,
           ci.blks_read AS idx_blks_read, ci.blks_hit AS idx_blks_hit,
           ti.blks_read AS tidx_blks_read, ti.blks_hit AS tidx_blks_hit,
           ti.first_index AS toast_indexrelid
    FROM wanted c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN params p
    LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
    LEFT JOIN index_sums ci ON ci.oid = c.oid
    LEFT JOIN index_sums ti ON ti.oid = c.reltoastrelid
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
), tree AS (
    -- every partition's pages counted again for each of its ancestors
    SELECT a.relid AS oid, sum(s.table_estimate + s.index_estimate) AS weight
    FROM sized s
    CROSS JOIN LATERAL pg_partition_ancestors(s.oid) a
    WHERE s.relispartition AND a.relid <> s.oid
    GROUP BY a.relid
), ranked AS (
    SELECT s.oid AS relid, s.schemaname, s.relname, s.table_estimate, s.index_estimate,
           s.locked, s.toast_indexrelid,
           pg_stat_get_numscans(s.oid) AS seq_scan,
           pg_stat_get_tuples_returned(s.oid) AS seq_tup_read,
           coalesce(s.idx_scan, 0) AS idx_scan,
           coalesce(s.idx_tup_fetch + pg_stat_get_tuples_fetched(s.oid), 0) AS idx_tup_fetch,
           pg_stat_get_tuples_inserted(s.oid) AS n_tup_ins,
           pg_stat_get_tuples_updated(s.oid) AS n_tup_upd,
           pg_stat_get_tuples_deleted(s.oid) AS n_tup_del,
           pg_stat_get_tuples_hot_updated(s.oid) AS n_tup_hot_upd,
           pg_stat_get_live_tuples(s.oid) AS n_live_tup,
           pg_stat_get_dead_tuples(s.oid) AS n_dead_tup,
           pg_stat_get_mod_since_analyze(s.oid) AS n_mod_since_analyze,
           pg_stat_get_vacuum_count(s.oid) AS vacuum_count,
           pg_stat_get_autovacuum_count(s.oid) AS autovacuum_count,
           pg_stat_get_analyze_count(s.oid) AS analyze_count,
           pg_stat_get_autoanalyze_count(s.oid) AS autoanalyze_count,
           pg_stat_get_last_vacuum_time(s.oid) AS last_vacuum,
           pg_stat_get_last_autovacuum_time(s.oid) AS last_autovacuum,
           pg_stat_get_last_analyze_time(s.oid) AS last_analyze,
           pg_stat_get_last_autoanalyze_time(s.oid) AS last_autoanalyze,
           coalesce(pg_stat_get_blocks_fetched(s.oid) - pg_stat_get_blocks_hit(s.oid), 0)
               AS heap_blks_read,
           coalesce(pg_stat_get_blocks_hit(s.oid), 0) AS heap_blks_hit,
           coalesce(s.idx_blks_read, 0) AS idx_blks_read,
           coalesce(s.idx_blks_hit, 0) AS idx_blks_hit,
           -- reltoastrelid is 0 without a TOAST table; the functions then return 0
           coalesce(pg_stat_get_blocks_fetched(s.reltoastrelid)
                    - pg_stat_get_blocks_hit(s.reltoastrelid), 0) AS toast_blks_read,
           coalesce(pg_stat_get_blocks_hit(s.reltoastrelid), 0) AS toast_blks_hit,
           coalesce(s.tidx_blks_read, 0) AS tidx_blks_read,
           coalesce(s.tidx_blks_hit, 0) AS tidx_blks_hit,
           row_number() OVER (
               ORDER BY s.table_estimate + s.index_estimate + coalesce(tr.weight, 0) DESC,
                        pg_stat_get_live_tuples(s.oid) DESC, s.schemaname, s.relname
           ) <= coalesce(p.top_n, 2147483647) AS named
    FROM sized s
    LEFT JOIN tree tr ON tr.oid = s.oid
    CROSS JOIN params p
)
SELECT current_database() AS datname, r.relid, r.schemaname, r.relname,
       r.seq_scan, r.seq_tup_read, r.idx_scan, r.idx_tup_fetch,
       r.n_tup_ins, r.n_tup_upd, r.n_tup_del, r.n_tup_hot_upd,
       r.n_live_tup, r.n_dead_tup, r.n_mod_since_analyze,
       r.vacuum_count, r.autovacuum_count, r.analyze_count, r.autoanalyze_count,
       -- date_part, not extract: float8 without a detour through numeric (see tables_named)
       coalesce(date_part('epoch', r.last_vacuum), 0) AS last_vacuum,
       coalesce(date_part('epoch', r.last_autovacuum), 0) AS last_autovacuum,
       coalesce(date_part('epoch', r.last_analyze), 0) AS last_analyze,
       coalesce(date_part('epoch', r.last_autoanalyze), 0) AS last_autoanalyze,
       CASE WHEN p.exact_sizes AND NOT r.locked
            THEN coalesce(pg_table_size(r.relid), r.table_estimate)
            ELSE r.table_estimate END AS table_size_bytes,
       CASE WHEN p.exact_sizes AND NOT r.locked
            THEN coalesce(pg_indexes_size(r.relid), r.index_estimate)
            ELSE r.index_estimate END AS index_size_bytes,
       r.heap_blks_read, r.heap_blks_hit, r.idx_blks_read, r.idx_blks_hit,
       r.toast_blks_read, r.toast_blks_hit, r.tidx_blks_read, r.tidx_blks_hit,
       r.toast_indexrelid
FROM ranked r
CROSS JOIN params p
WHERE r.named
UNION ALL
-- the remainder: sums (float8, as a sum of bigints is numeric); no timestamps, since neither
-- their minimum nor their maximum over unrelated tables says much
SELECT current_database(), NULL::oid, '', 'other',
       sum(seq_scan)::float8, sum(seq_tup_read)::float8,
       sum(idx_scan)::float8, sum(idx_tup_fetch)::float8,
       sum(n_tup_ins)::float8, sum(n_tup_upd)::float8,
       sum(n_tup_del)::float8, sum(n_tup_hot_upd)::float8,
       sum(n_live_tup)::float8, sum(n_dead_tup)::float8, sum(n_mod_since_analyze)::float8,
       sum(vacuum_count)::float8, sum(autovacuum_count)::float8,
       sum(analyze_count)::float8, sum(autoanalyze_count)::float8,
       NULL::float8, NULL::float8, NULL::float8, NULL::float8,
       sum(table_estimate)::float8, sum(index_estimate)::float8,
       sum(heap_blks_read)::float8, sum(heap_blks_hit)::float8,
       sum(idx_blks_read)::float8, sum(idx_blks_hit)::float8,
       sum(toast_blks_read)::float8, sum(toast_blks_hit)::float8,
       sum(tidx_blks_read)::float8, sum(tidx_blks_hit)::float8, NULL::oid
FROM ranked
WHERE NOT named
HAVING count(*) > 0
