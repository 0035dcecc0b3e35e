-- wal_directory: WAL segment files in pg_wal and their total size. Every supported version
-- (13+); needs EXECUTE on pg_ls_waldir() (pg_monitor has it), checked by wal.sql first.
-- Only names of 24 hex digits are segments: .history/.backup files, .partial segments and
-- archive_status are left out, as postgres_exporter does.
SELECT count(*) AS segments,
       coalesce(sum(size), 0) AS size_bytes
FROM pg_ls_waldir()
WHERE name ~ '^[0-9A-F]{24}$'
