#!/bin/bash
# Entry point of the standby. On the first start (empty data directory) it clones the
# primary with pg_basebackup; --write-recovery-conf leaves standby.signal and
# primary_conninfo (with the replication password, inside the data directory) behind, so
# the server starts as a streaming standby from the slot the primary made for it. Then the
# image's own entrypoint takes over; it skips initdb for a data directory that has one.
set -Eeuo pipefail

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "standby: cloning the primary into $PGDATA"
    PGPASSWORD="$(< /run/secrets/replication-password)" pg_basebackup \
        --host=primary --port=5432 --username=replicator --no-password \
        --pgdata="$PGDATA" --wal-method=stream --slot=standby \
        --write-recovery-conf --checkpoint=fast
fi

exec docker-entrypoint.sh "$@"
