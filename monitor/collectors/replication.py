"""replication: role and replay delay, per-standby lag, replication slots, the WAL receiver."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.collectors.base import CollectorSpec, Row, RunContext, label, samples_from_rows
from monitor.metrics import Sample, gauge

STANDBY = ("application_name", "client_addr")
# postgres_exporter's label set for its pg_stat_replication metrics.
EXPORTER_STANDBY = ("application_name", "client_addr", "state", "slot_name")
SLOT = ("slot_name", "database")
SLOT_TYPE = ("slot_name", "slot_type")

# Every value each enum can take, so that a standby leaving a state reads 0 there
# instead of the series vanishing (alerts on `== 0` keep working).
SENDER_STATES = ("startup", "catchup", "streaming", "backup", "stopping")
SYNC_STATES = ("async", "potential", "sync", "quorum")
RECEIVER_STATES = ("stopped", "starting", "streaming", "waiting", "restarting", "stopping")

METRICS = (
    # This server, primary or standby.
    gauge("pg_replication_is_replica", "1 when the server is in recovery (a standby), else 0."),
    gauge(
        "pg_replication_lag_seconds",
        "On a standby: age of the last replayed commit while received WAL waits to be replayed; "
        "0 when everything received has been replayed (an idle primary is not lag) and on a "
        "primary.",
    ),
    gauge(
        "pg_replication_last_replay_seconds",
        "On a standby: time since the last replayed commit was made on the primary, whether "
        "or not anything is waiting (grows while the primary is idle). Absent on a primary.",
    ),
    gauge(
        "pg_replication_replay_lag_bytes",
        "On a standby: WAL received but not yet replayed (receive LSN - replay LSN).",
    ),
    gauge(
        "pg_settings_wal_keep_size_bytes",
        "Server setting wal_keep_size (PG13+, replaces wal_keep_segments), in bytes.",
    ),
    gauge(
        "pg_settings_max_slot_wal_keep_size_bytes",
        "Server setting max_slot_wal_keep_size in bytes; -1 means slots may retain unlimited WAL.",
    ),
    # One series set per WAL sender (standby, cascaded standby or base backup).
    gauge(
        "pg_stat_replication_state",
        "1 for the WAL sender's current state, 0 for the other states.",
        *STANDBY,
        "state",
    ),
    gauge(
        "pg_stat_replication_sync_state",
        "1 for the standby's current synchronous state, 0 for the others.",
        *STANDBY,
        "sync_state",
    ),
    gauge(
        "pg_stat_replication_sent_lag_bytes",
        "WAL this server has that was not yet sent to the standby.",
        *STANDBY,
    ),
    gauge(
        "pg_stat_replication_write_lag_bytes",
        "WAL this server has that the standby has not yet written.",
        *STANDBY,
    ),
    gauge(
        "pg_stat_replication_flush_lag_bytes",
        "WAL this server has that the standby has not yet flushed to disk.",
        *STANDBY,
    ),
    gauge(
        "pg_stat_replication_replay_lag_bytes",
        "WAL this server has that the standby has not yet replayed.",
        *STANDBY,
    ),
    gauge(
        "pg_stat_replication_write_lag_seconds",
        "Time between flushing WAL locally and the standby reporting it written "
        "(pg_stat_replication.write_lag; 0 when caught up).",
        *STANDBY,
    ),
    gauge(
        "pg_stat_replication_flush_lag_seconds",
        "Time between flushing WAL locally and the standby reporting it flushed "
        "(pg_stat_replication.flush_lag; 0 when caught up).",
        *STANDBY,
    ),
    gauge(
        "pg_stat_replication_replay_lag_seconds",
        "Time between flushing WAL locally and the standby reporting it replayed "
        "(pg_stat_replication.replay_lag; 0 when caught up).",
        *STANDBY,
    ),
    gauge(
        "pg_stat_replication_pg_current_wal_lsn_bytes",
        "Primary's current WAL position in bytes (one series per standby, as in "
        "postgres_exporter).",
        *EXPORTER_STANDBY,
    ),
    gauge(
        "pg_stat_replication_pg_wal_lsn_diff",
        "Primary's current WAL position minus the standby's replay position, in bytes.",
        *EXPORTER_STANDBY,
    ),
    gauge(
        "pg_stat_replication_reply_time",
        "Unix time of the last reply message received from the standby.",
        *EXPORTER_STANDBY,
    ),
    # Replication slots.
    gauge("pg_replication_slots_active", "1 when a consumer is attached to the slot.", *SLOT),
    gauge(
        "pg_replication_slots_pg_wal_lsn_diff",
        "WAL retained by the slot in bytes: current WAL position (last received on a standby) "
        "minus the slot's restart_lsn.",
        *SLOT,
    ),
    gauge(
        "pg_replication_slots_safe_wal_size_bytes",
        "WAL that can still be written before the slot is in danger of being lost "
        "(absent when max_slot_wal_keep_size is -1).",
        *SLOT_TYPE,
    ),
    gauge(
        "pg_replication_slots_wal_status",
        "1 with the slot's wal_status (reserved, extended, unreserved, lost) as a label.",
        *SLOT_TYPE,
        "wal_status",
    ),
    gauge(
        "pg_replication_slots_confirmed_flush_lag_bytes",
        "Logical slots: current WAL position minus the position the consumer confirmed.",
        *SLOT_TYPE,
    ),
    # The WAL receiver of a standby.
    gauge(
        "pg_stat_wal_receiver_status",
        "On a standby: 1 for the WAL receiver's current status, 0 for the others "
        "(all 0 when no receiver is running).",
        "status",
    ),
    gauge(
        "pg_stat_wal_receiver_connected",
        "On a standby: 1 when the WAL receiver is streaming from its upstream server.",
    ),
    gauge(
        "pg_stat_wal_receiver_last_msg_receipt_age_seconds",
        "On a standby: time since the last message from the upstream server arrived.",
    ),
)


def server_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    for row in rows:
        yield Sample("pg_replication_is_replica", (), 1.0 if row.in_recovery else 0.0)
    yield from samples_from_rows(
        rows,
        (),
        {
            "lag_seconds": "pg_replication_lag_seconds",
            "last_replay_seconds": "pg_replication_last_replay_seconds",
            "replay_lag_bytes": "pg_replication_replay_lag_bytes",
            "wal_keep_size_bytes": "pg_settings_wal_keep_size_bytes",
            "max_slot_wal_keep_size_bytes": "pg_settings_max_slot_wal_keep_size_bytes",
        },
    )


def enum_samples(
    metric: str, labels: tuple[str, ...], current: object, values: Sequence[str]
) -> Iterable[Sample]:
    """One series per possible value, 1 for the current one; an unknown value gets its own."""
    current_value = label(current)
    known = (*values, current_value) if current_value and current_value not in values else values
    for value in known:
        yield Sample(metric, (*labels, value), 1.0 if value == current_value else 0.0)


def unique_standbys(rows: Sequence[Row]) -> list[Row]:
    """One row per (application_name, client_addr), the first one (the longest-running
    sender): two senders sharing both, such as two base backups from one host, would
    otherwise make duplicate series, which a scrape must not contain."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for row in rows:
        key = (label(row.application_name), label(row.client_addr))
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


def standby_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    rows = unique_standbys(rows)
    for row in rows:
        labels = (label(row.application_name), label(row.client_addr))
        yield from enum_samples("pg_stat_replication_state", labels, row.state, SENDER_STATES)
        yield from enum_samples(
            "pg_stat_replication_sync_state", labels, row.sync_state, SYNC_STATES
        )
    yield from samples_from_rows(
        rows,
        STANDBY,
        {
            "sent_lag_bytes": "pg_stat_replication_sent_lag_bytes",
            "write_lag_bytes": "pg_stat_replication_write_lag_bytes",
            "flush_lag_bytes": "pg_stat_replication_flush_lag_bytes",
            "replay_lag_bytes": "pg_stat_replication_replay_lag_bytes",
            "write_lag_seconds": "pg_stat_replication_write_lag_seconds",
            "flush_lag_seconds": "pg_stat_replication_flush_lag_seconds",
            "replay_lag_seconds": "pg_stat_replication_replay_lag_seconds",
        },
    )
    yield from samples_from_rows(
        rows,
        EXPORTER_STANDBY,
        {
            "pg_current_wal_lsn_bytes": "pg_stat_replication_pg_current_wal_lsn_bytes",
            "pg_wal_lsn_diff": "pg_stat_replication_pg_wal_lsn_diff",
            "reply_time": "pg_stat_replication_reply_time",
        },
    )


def slot_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    for row in rows:
        yield Sample(
            "pg_replication_slots_active",
            (label(row.slot_name), label(row.database)),
            1.0 if row.active else 0.0,
        )
        if row.wal_status is not None:
            yield Sample(
                "pg_replication_slots_wal_status",
                (label(row.slot_name), label(row.slot_type), row.wal_status),
                1.0,
            )
    yield from samples_from_rows(
        rows, SLOT, {"retained_bytes": "pg_replication_slots_pg_wal_lsn_diff"}
    )
    yield from samples_from_rows(
        rows, SLOT_TYPE, {"safe_wal_size": "pg_replication_slots_safe_wal_size_bytes"}
    )
    yield from samples_from_rows(
        (row for row in rows if row.slot_type == "logical"),
        SLOT_TYPE,
        {"confirmed_flush_lag_bytes": "pg_replication_slots_confirmed_flush_lag_bytes"},
    )


def receiver_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    """Only called on a standby; no row means no WAL receiver process is running."""
    status = rows[0].status if rows else None
    yield from enum_samples("pg_stat_wal_receiver_status", (), status, RECEIVER_STATES)
    yield Sample("pg_stat_wal_receiver_connected", (), 1.0 if status == "streaming" else 0.0)
    yield from samples_from_rows(
        rows,
        (),
        {"last_msg_receipt_age_seconds": "pg_stat_wal_receiver_last_msg_receipt_age_seconds"},
    )


def collect(ctx: RunContext) -> Iterable[Sample]:
    server = ctx.fetch("replication")
    ctx.keep("replication", server)
    yield from server_samples(server)
    standbys = ctx.fetch("replication_standbys")
    ctx.keep("replication_standbys", standbys)
    yield from standby_samples(standbys)
    slots = ctx.fetch("replication_slots")
    ctx.keep("replication_slots", slots)
    yield from slot_samples(slots)
    if server and server[0].in_recovery:
        yield from receiver_samples(ctx.fetch("replication_receiver"))


SPEC = CollectorSpec(
    name="replication",
    description="Recovery state and replay delay, per-standby lag, slots, the WAL receiver.",
    metrics=METRICS,
    queries=("replication", "replication_standbys", "replication_slots", "replication_receiver"),
    collect=collect,
    interval=15.0,
    timeout=10.0,
)
