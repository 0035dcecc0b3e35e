#!/bin/bash
# Run once by the postgres image, on the primary's first start (docker-entrypoint-initdb.d),
# against the socket-only server it starts for initialisation. Passwords are read from the
# Compose secrets; psql quotes them (:'name'), whatever they contain.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\set pgmon_password `cat /run/secrets/pgmon-password`
\set replication_password `cat /run/secrets/replication-password`
-- The monitoring role: pg_monitor is all pgmon needs (README, "A monitoring role").
CREATE ROLE pgmon LOGIN PASSWORD :'pgmon_password';
GRANT pg_monitor TO pgmon;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
-- The standby clones the primary and streams from this slot (standby-entrypoint.sh).
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'replication_password';
SELECT pg_create_physical_replication_slot('standby');
SQL
# Replication connections match only pg_hba lines naming "replication", not "all".
printf 'host replication replicator all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
