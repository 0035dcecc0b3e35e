-- sequences: per sequence of the current database that pgmon may read, how much of its
-- usable range it has used, most used first, at most top_n rows (NULL = no bound).
-- Every supported version (13+).
--
-- The usable range is bounded by the sequence's own MINVALUE/MAXVALUE and by the narrowest
-- integer column it feeds: an integer column fed by a bigint sequence fails at 2^31-1. The
-- columns fed are found in pg_depend: OWNED BY links (serial, deptype 'a'), identity
-- columns ('i'), and column defaults calling nextval() on it (a pg_attrdef dependency,
-- 'n'), which catches a sequence shared by several tables without OWNED BY.
-- The last value is read as pg_sequences reads it, with pg_sequence_last_value() behind a
-- privilege test (it raises an error without SELECT or USAGE, and is NULL for a sequence
-- never used); sequences_unreadable counts the sequences it skips. has_sequence_privilege()
-- raises an error on other relations, and the planner may test it before the join to
-- pg_sequence, hence the CASE on relkind.
-- used_fraction is the part of the range between its start side and the limit in the
-- sequence's direction: (last - lower) / (upper - lower) ascending, mirrored descending;
-- computed in numeric, since bigint bounds overflow when subtracted.
WITH fed AS (
    SELECT d.objid AS seqid, d.refobjid AS relid, d.refobjsubid AS attnum, d.deptype
    FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
      AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
    UNION
    SELECT d.refobjid, ad.adrelid, ad.adnum, d.deptype
    FROM pg_depend d
    JOIN pg_attrdef ad ON ad.oid = d.objid
    WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
      AND d.deptype = 'n'
), columns AS (
    SELECT f.seqid, f.deptype, n.nspname AS table_schema, c.relname AS table_name,
           a.attname AS column_name, format_type(a.atttypid, NULL) AS column_type,
           CASE a.atttypid WHEN 'int2'::regtype THEN -32768
                           WHEN 'int4'::regtype THEN -2147483648
                           WHEN 'int8'::regtype THEN -9223372036854775808 END AS column_min,
           CASE a.atttypid WHEN 'int2'::regtype THEN 32767
                           WHEN 'int4'::regtype THEN 2147483647
                           WHEN 'int8'::regtype THEN 9223372036854775807 END AS column_max
    FROM fed f
    JOIN pg_class c ON c.oid = f.relid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = f.relid AND a.attnum = f.attnum AND NOT a.attisdropped
), narrowest AS (
    SELECT DISTINCT ON (seqid) *
    FROM columns
    ORDER BY seqid, column_max NULLS LAST, deptype, table_schema, table_name, column_name
), readable AS (
    SELECT s.seqrelid, n.nspname AS schemaname, c.relname AS sequencename,
           format_type(s.seqtypid, NULL) AS sequence_type, s.seqmin AS min_value,
           s.seqmax AS max_value, s.seqincrement AS increment_by, s.seqcycle AS cycle,
           pg_sequence_last_value(c.oid) AS last_value
    FROM pg_sequence s
    JOIN pg_class c ON c.oid = s.seqrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT pg_is_other_temp_schema(n.oid)
      AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'SELECT,USAGE') END
), measured AS (
    SELECT r.*, w.deptype, w.table_schema, w.table_name, w.column_name, w.column_type,
           greatest(r.min_value, w.column_min)::bigint AS lower_bound,
           least(r.max_value, w.column_max)::bigint AS upper_bound
    FROM readable r
    LEFT JOIN narrowest w ON w.seqid = r.seqrelid
)
SELECT current_database() AS datname, schemaname, sequencename, sequence_type,
       min_value, max_value, increment_by, cycle, last_value,
       deptype, table_schema, table_name, column_name, column_type, lower_bound, upper_bound,
       (CASE WHEN increment_by > 0 THEN last_value::numeric - lower_bound
             ELSE upper_bound::numeric - last_value END
        / nullif(upper_bound::numeric - lower_bound, 0))::float8 AS used_fraction
FROM measured
WHERE last_value IS NOT NULL
ORDER BY used_fraction DESC NULLS LAST, schemaname, sequencename
LIMIT %s
