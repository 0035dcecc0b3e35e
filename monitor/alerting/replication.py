"""Standbys keeping up, slots not hoarding WAL, archiving working."""

from __future__ import annotations

from monitor.alerting.model import Alert, Group, Level, Runbook

_STANDBY_SQL = (
    "On the primary:\n\n```sql\nSELECT application_name, state, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_lag_bytes,\n"
    "       write_lag, flush_lag, replay_lag FROM pg_stat_replication;\n```\n\n"
    "On the standby: `SELECT pg_is_wal_replay_paused(), pg_last_xact_replay_timestamp();`"
)

GROUP = Group(
    "pgmon-replication",
    alerts=(
        Alert(
            name="PostgresReplicationLagBytes",
            expr="pg_replication_replay_lag_bytes > [[replication_lag_bytes]]",
            levels=(Level("warning"),),
            for_="5m",
            summary="Standby {{ $labels.target }} has {{ $value | humanize1024 }}B of WAL to "
            "replay",
            description="Standby {{ $labels.target }} has received {{ $value | humanize1024 }}B "
            "of WAL it has not replayed (more than [[replication_lag_bytes]]).",
            runbook=Runbook(
                meaning="The standby receives WAL faster than it replays it. Queries on it "
                "see old data, and a failover to it would first have to replay the backlog. "
                "Measured on the standby, so pgmon must watch it (a sidecar per server does); "
                "the primary's view per standby is on the *Replication* dashboard.",
                confirm=_STANDBY_SQL,
                act="Look for what slows replay: replay paused (`pg_wal_replay_resume()`), "
                "a long query on the standby holding replay back "
                "(`max_standby_streaming_delay`), or a standby with slower disks or CPU "
                "than the primary during a bulk write.",
            ),
        ),
        Alert(
            name="PostgresReplicationLagSeconds",
            expr="pg_replication_lag_seconds > [[replication_lag_seconds]]",
            levels=(Level("warning"),),
            for_="2m",
            summary="Standby {{ $labels.target }} is {{ $value | humanizeDuration }} behind",
            description="The last commit standby {{ $labels.target }} replayed is "
            "{{ $value | humanizeDuration }} old while WAL waits to be replayed (more than "
            "[[replication_lag_seconds]]). An idle primary does not count as lag.",
            covers=("replication_lag",),
            runbook=Runbook(
                meaning="Data on the standby is this far behind the primary. The metric is 0 "
                "whenever everything received has been replayed, so an idle primary (no "
                "commits for hours) does not raise it; `for:` rides out the moment a record "
                "is in flight on an idle system.",
                confirm=_STANDBY_SQL,
                act="As for PostgresReplicationLagBytes. If the standby serves reads, "
                "consider taking it out of the pool until it catches up.",
            ),
        ),
        Alert(
            name="PostgresStandbyNotStreaming",
            expr="pg_replication_is_replica == 1 and on (instance, job, target) "
            "pg_stat_wal_receiver_connected == 0",
            levels=(Level("warning"),),
            for_="5m",
            summary="Standby {{ $labels.target }} is not streaming from its primary",
            description="The WAL receiver of standby {{ $labels.target }} is not streaming; "
            "the standby falls behind without showing replay lag.",
            runbook=Runbook(
                meaning="The standby has no streaming connection to its upstream. It may "
                "replay from an archive, or nothing at all; its replay lag stays 0 because "
                "nothing new is received.",
                confirm="On the standby: `SELECT * FROM pg_stat_wal_receiver;` and its log "
                "(authentication errors, *requested WAL segment has already been removed*).",
                act="Fix the connection (`primary_conninfo`, `pg_hba.conf`, network). If the "
                "primary removed WAL the standby needs, rebuild the standby, and use a slot "
                "or `wal_keep_size` to avoid it next time.",
            ),
        ),
        Alert(
            name="PostgresReplicationSlotInactive",
            expr="pg_replication_slots_active == 0",
            levels=(Level("warning"),),
            for_="30m",
            summary="Replication slot {{ $labels.slot_name }} on {{ $labels.target }} is inactive",
            description="No consumer has used slot {{ $labels.slot_name }} on "
            "{{ $labels.target }} for 30 minutes; it keeps WAL (and, for logical slots, "
            "catalog rows) from being removed.",
            covers=("inactive_replication_slot",),
            runbook=Runbook(
                meaning="A slot nobody reads from retains WAL without limit (unless "
                "`max_slot_wal_keep_size` is set) until the disk fills and the server stops.",
                confirm="```sql\nSELECT slot_name, slot_type, active, wal_status,\n"
                "       pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn))\n"
                "FROM pg_replication_slots;\n```",
                act="Reconnect its consumer (the standby or the logical subscriber). If the "
                "consumer is gone for good: `SELECT pg_drop_replication_slot('name');` "
                "(a dropped standby slot means the standby must be rebuilt).",
            ),
        ),
        Alert(
            name="PostgresReplicationSlotRetainingWal",
            expr="pg_replication_slots_pg_wal_lsn_diff > [[slot_retained_wal_bytes]]",
            levels=(Level("warning"),),
            for_="5m",
            summary="Slot {{ $labels.slot_name }} on {{ $labels.target }} retains "
            "{{ $value | humanize1024 }}B of WAL",
            description="Replication slot {{ $labels.slot_name }} on {{ $labels.target }} "
            "holds back {{ $value | humanize1024 }}B of WAL (more than "
            "[[slot_retained_wal_bytes]]).",
            runbook=Runbook(
                meaning="The slot's consumer is far behind (or gone), so the server keeps all "
                "WAL since the consumer's position in pg_wal.",
                confirm="The query of PostgresReplicationSlotInactive, and the free space of "
                "the pg_wal file system.",
                act="Get the consumer to catch up, or drop the slot if it is abandoned. Set "
                "`max_slot_wal_keep_size` so that a lagging slot is invalidated before the "
                "disk fills.",
            ),
        ),
        Alert(
            name="PostgresReplicationSlotWalAtRisk",
            expr='pg_replication_slots_wal_status{wal_status=~"unreserved|lost"} == 1',
            levels=(Level("critical"),),
            for_="0m",
            summary="Slot {{ $labels.slot_name }} on {{ $labels.target }} is "
            "{{ $labels.wal_status }}",
            description="Replication slot {{ $labels.slot_name }} on {{ $labels.target }} is "
            "{{ $labels.wal_status }}: WAL its consumer still needs is removed or about to be.",
            runbook=Runbook(
                meaning="The slot went past `max_slot_wal_keep_size`. *unreserved*: the WAL "
                "it needs will be removed at the next checkpoint; *lost*: it is gone, and "
                "the consumer cannot continue from this slot.",
                confirm="`SELECT slot_name, wal_status, safe_wal_size FROM pg_replication_slots;`",
                act="*unreserved*: let the consumer catch up at once, or accept the loss. "
                "*lost*: rebuild the standby or resynchronise the subscriber, and drop the "
                "slot.",
            ),
        ),
        Alert(
            name="PostgresWalArchivingFailing",
            expr="increase(pg_stat_archiver_failed_count[5m]) > 0",
            levels=(Level("warning"),),
            for_="15m",
            summary="WAL archiving fails on {{ $labels.target }}",
            description="archive_command or archive_library has been failing on "
            "{{ $labels.target }} for 15 minutes; WAL piles up in pg_wal.",
            runbook=Runbook(
                meaning="Every failed attempt is retried, so WAL segments accumulate in "
                "pg_wal until the disk fills, and point-in-time recovery has a gap after the "
                "last archived segment.",
                confirm="`SELECT * FROM pg_stat_archiver;` (last_failed_wal, "
                "last_failed_time) and the server's log, which has the command's error. "
                "`pg_archiver_pending_wal_files` shows the backlog.",
                act="Fix the archive destination (credentials, space, network) or the "
                "command. Never delete files from pg_wal by hand.",
            ),
        ),
    ),
)
