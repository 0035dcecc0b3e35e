-- tables_wal_position: the WAL insert position, NULL on a standby (where it fails, and where
-- replay changes tables without this server writing WAL). Every supported version (13+).
-- A ranking or a measurement of sizes that is due is redone only when this moved since the
-- last one (monitor/collectors/tables.py).
SELECT CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_insert_lsn()::text END AS lsn
