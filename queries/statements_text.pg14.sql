-- statements_text (PG14+): the query text of the given top-level entries only (the top N
-- whose text pgmon has not cached yet); toplevel keeps it to one row per key, matching the
-- counters. Asking for text makes pg_stat_statements read its whole query-text file, which
-- is why counters are polled without it. The text goes into a label: string literals become
-- '***' (pg_stat_statements replaces the constants of queries by $n, but keeps utility
-- statements as written, e.g. CREATE ROLE ... PASSWORD '...'), even one cut off at the end,
-- then runs of whitespace become one space and the result is cut to 120 characters. Only
-- the first 1000 characters are worked on: plenty for 120.
-- The keys come as three parallel arrays; oids are compared as bigint.
-- {schema} is the extension's schema, filled in with sql.Identifier.
SELECT s.queryid, s.userid::bigint AS userid, s.dbid::bigint AS dbid,
       left(btrim(regexp_replace(
                regexp_replace(left(s.query, 1000), '''([^'']|'''')*(''|$)', '''***''', 'g'),
                '\s+', ' ', 'g')), 120) AS query
FROM {schema}.pg_stat_statements(true) AS s
JOIN unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS k(queryid, userid, dbid)
  ON k.queryid = s.queryid AND k.userid = s.userid::bigint AND k.dbid = s.dbid::bigint
WHERE s.toplevel
