-- sizes_wal_position: the WAL insert position, NULL on a standby (where it fails, and where
-- replay changes relations without this server writing WAL). Every supported version (13+).
-- Relation and database sizes, and the tables ranking, that are due are made again only
-- when this moved since the last ones (monitor/collectors/sizes.py).
SELECT CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_insert_lsn()::text END AS lsn
