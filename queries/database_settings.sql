-- database_settings: the ages at which autovacuum forces an anti-wraparound vacuum, to read
-- the per-database XID and multixact ages against. Every supported version (13+).
SELECT current_setting('autovacuum_freeze_max_age')::bigint AS autovacuum_freeze_max_age,
       current_setting('autovacuum_multixact_freeze_max_age')::bigint
           AS autovacuum_multixact_freeze_max_age
