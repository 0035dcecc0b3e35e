-- archiver: WAL archiving counts and times from pg_stat_archiver, with the archive_mode that
-- decides whether this server archives at all. Every supported version (13+).
-- archive_mode 'on' archives only while not in recovery; 'always' archives on a standby too.
-- The privilege check lets the collector skip counting .ready files (pg_monitor may) instead
-- of failing the run's transaction.
SELECT archived_count,
       failed_count,
       extract(epoch FROM clock_timestamp() - last_archived_time) AS last_archive_age,
       extract(epoch FROM last_failed_time) AS last_failed_time,
       current_setting('archive_mode') AS archive_mode,
       pg_is_in_recovery() AS in_recovery,
       has_function_privilege('pg_ls_archive_statusdir()', 'EXECUTE') AS can_list_status
FROM pg_stat_archiver
