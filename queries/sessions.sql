-- sessions: the client sessions with the oldest open transactions, oldest first, at most
-- top_n of them, with who runs them and their last query. Every supported version
-- (13+), primary and standby alike (a long query on a standby holds back vacuum on the
-- primary when hot_standby_feedback is on, or delays replay when it is off).
-- Only sessions inside a transaction are listed: an idle session holds nothing back. Ranked
-- by transaction age, which bounds how long a session can have been idle in transaction,
-- so the oldest idle-in-transaction sessions are among these rows too.
-- The query text is masked as pg_stat_statements texts are in statements_text.sql (string
-- literals become '***', even one cut off at the end; whitespace collapsed; 120
-- characters): pg_stat_activity shows statements with their constants, passwords included.
SELECT a.pid,
       a.usename,
       a.application_name,
       host(a.client_addr) AS client_addr,
       a.datname,
       a.state,
       greatest(0, extract(epoch FROM clock_timestamp() - a.xact_start)) AS xact_seconds,
       greatest(0, extract(epoch FROM clock_timestamp() - a.state_change)) AS state_seconds,
       age(a.backend_xmin) AS xmin_age,
       left(btrim(regexp_replace(
                regexp_replace(left(a.query, 1000), '''([^'']|'''')*(''|$)', '''***''', 'g'),
                '\s+', ' ', 'g')), 120) AS query
FROM pg_stat_activity a
WHERE a.backend_type = 'client backend'
  AND a.pid <> pg_backend_pid()
  AND a.xact_start IS NOT NULL
ORDER BY a.xact_start, a.pid
LIMIT %s
