-- sequences_unreadable: how many sequences of the current database pgmon may not read
-- (neither SELECT nor USAGE: pg_monitor alone grants neither), and in which schemas (the
-- first 20), so that the grant that enables sequence checks can be named. Every supported
-- version (13+). Always one row.
SELECT current_database() AS datname, current_user AS monitor_role,
       count(*) AS unreadable,
       (array_agg(DISTINCT n.nspname ORDER BY n.nspname))[1:20] AS schemas
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT pg_is_other_temp_schema(n.oid)
  AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(c.oid, 'SELECT,USAGE') END
