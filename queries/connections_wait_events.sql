-- connections_wait_events: active client sessions per database and wait event type
-- ('none' when the session is running on CPU). Every supported version (13+).
SELECT datname,
       coalesce(wait_event_type, 'none') AS wait_event_type,
       count(*) AS sessions
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()
  AND datname IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2
