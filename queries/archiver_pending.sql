-- archiver_pending: WAL segments waiting to be archived, i.e. the .ready markers in
-- pg_wal/archive_status. Every supported version (13+; pg_ls_archive_statusdir() is 12+ and
-- granted to pg_monitor). A growing count means archiving falls behind or keeps failing,
-- and pg_wal cannot be recycled meanwhile.
SELECT count(*) AS pending
FROM pg_ls_archive_statusdir()
WHERE name LIKE '%.ready'
