"""Replication: lag per standby as the primary sees it and as each standby sees it,
replication slots, and how fast WAL is generated."""

from __future__ import annotations

from monitor.grafana import shared
from monitor.grafana.dashboard import Dashboard, Section
from monitor.grafana.panels import Column, Json, Query, mapping, stat, table, thresholds, timeseries
from monitor.grafana.promql import TARGET, by, rate, sel

STANDBY = "target, application_name, client_addr"
STANDBY_LEGEND = "{{target}} -> {{application_name}} {{client_addr}}"
SLOT = "target, slot_name"
PRIMARY_SIDE = (
    "Measured on the primary (pg_stat_replication), one series per connected standby or "
    "base backup. Empty unless a standby is connected to a selected target."
)


def per_standby(title: str, description: str, metric: str, unit: str) -> Json:
    return timeseries(
        title,
        f"{description} {PRIMARY_SIDE}",
        Query(by("max", STANDBY, sel(metric, TARGET)), STANDBY_LEGEND),
        unit=unit,
        size=(8, 8),
    )


def lag_stages() -> Json:
    stages = ("sent", "write", "flush", "replay")
    return timeseries(
        "Where the WAL is, per standby",
        "WAL the primary has that each standby has not yet received (sent), written, flushed "
        "or replayed. Sent or write lag points at the network, flush lag at the standby's "
        f"disk, replay alone at replay (paused, or conflicts with queries). {PRIMARY_SIDE}",
        *(
            Query(
                by("max", STANDBY, sel(f"pg_stat_replication_{stage}_lag_bytes", TARGET)),
                f"{STANDBY_LEGEND} {stage}",
            )
            for stage in stages
        ),
        unit="bytes",
        size=(8, 8),
    )


def senders_table() -> Json:
    def current(metric: str, label: str) -> Query:
        # Enum metrics: 1 for the current value, 0 for the others.
        return Query(by("max", f"{STANDBY}, {label}", f"{sel(metric, TARGET)} == 1"))

    return table(
        "WAL senders",
        "Each standby (or base backup) connected to a primary: its sender's state "
        "(streaming is normal; catchup while it catches up), synchronous state, replay lag "
        f"in bytes and seconds, and about how long ago it last replied. {PRIMARY_SIDE}",
        current("pg_stat_replication_state", "state"),
        current("pg_stat_replication_sync_state", "sync_state"),
        Query(by("max", STANDBY, sel("pg_stat_replication_replay_lag_bytes", TARGET))),
        Query(by("max", STANDBY, sel("pg_stat_replication_replay_lag_seconds", TARGET))),
        Query(by("max", STANDBY, f"time() - {sel('pg_stat_replication_reply_time', TARGET)}")),
        columns=(
            Column("target", "Primary"),
            Column("application_name", "Standby"),
            Column("client_addr", "Address"),
            Column("state", "State"),
            Column("sync_state", "Sync"),
            Column("Value #C", "Replay lag", unit="bytes"),
            Column("Value #D", "Replay delay", unit="s"),
            Column("Value #E", "Last reply", unit="s"),
        ),
        sort_by="Replay lag",
        size=(24, 6),
    )


def standby_stats() -> tuple[Json, ...]:
    return (
        stat(
            "Role",
            "Whether each target is a primary or a standby (in recovery), now.",
            Query(sel("pg_replication_is_replica", TARGET), "{{target}}"),
            mappings=(shared.ROLE,),
            colours=thresholds("blue"),
            size=(12, 4),
        ),
        stat(
            "WAL receiver",
            "On standbys: whether the WAL receiver is streaming from its upstream server now. "
            "Not streaming means the standby falls behind (or replays from an archive). "
            "Empty unless a target is a streaming-replication standby.",
            Query(sel("pg_stat_wal_receiver_connected", TARGET), "{{target}}"),
            mappings=(mapping({"0": ("not streaming", "red"), "1": ("streaming", "green")}),),
            colours=thresholds("red", (1, "green")),
            size=(12, 4),
        ),
    )


def received_not_replayed() -> Json:
    return timeseries(
        "WAL received, not yet replayed",
        "On standbys: WAL received from upstream that is waiting to be replayed. It grows "
        "while replay is paused or slowed by conflicts with queries on the standby. "
        "Empty unless a target is a standby.",
        Query(sel("pg_replication_replay_lag_bytes", TARGET), "{{target}}"),
        unit="bytes",
        size=(12, 8),
    )


def slots_table() -> Json:
    return table(
        "Replication slots",
        "Each replication slot: whether a consumer is attached, its wal_status (reserved or "
        "extended is fine; unreserved will lose WAL at the next checkpoint; lost is lost), and "
        "the WAL it keeps from being removed. An inactive slot keeps WAL until the disk fills "
        "(the inactive_replication_slot finding). Empty unless a slot exists.",
        Query(by("max", SLOT, sel("pg_replication_slots_active", TARGET))),
        Query(
            by(
                "max",
                f"{SLOT}, slot_type, wal_status",
                f"{sel('pg_replication_slots_wal_status', TARGET)} == 1",
            )
        ),
        Query(by("max", SLOT, sel("pg_replication_slots_pg_wal_lsn_diff", TARGET))),
        columns=(
            Column("target", "Target"),
            Column("slot_name", "Slot"),
            Column("slot_type", "Type"),
            Column(
                "Value #A",
                "Consumer",
                mappings=(mapping({"0": ("inactive", "orange"), "1": ("active", "green")}),),
            ),
            Column("wal_status", "WAL status"),
            Column("Value #C", "Retained WAL", unit="bytes"),
        ),
        sort_by="Retained WAL",
        size=(12, 8),
    )


def retained_wal() -> Json:
    return timeseries(
        "WAL retained by slot",
        "WAL each slot keeps from being removed: the current position (last received on a "
        "standby) minus the slot's restart position. An active slot stays near its consumer's "
        "lag; a climbing line is a consumer that is gone or stuck. Empty unless a slot exists.",
        Query(
            by("max", SLOT, sel("pg_replication_slots_pg_wal_lsn_diff", TARGET)),
            "{{target}} {{slot_name}}",
        ),
        unit="bytes",
    )


def wal_rate() -> Json:
    # pg_stat_wal (PG14+) counts the WAL this server generated. Before 14, a primary's WAL
    # position moves by exactly what it writes; a standby's moves with replay, not with WAL it
    # generates, hence primaries only.
    generated = rate("pg_stat_wal_wal_bytes", TARGET)
    position = rate("pg_wal_lsn_location_bytes", TARGET)
    primaries = f"{sel('pg_replication_is_replica', TARGET)} == 0"
    return timeseries(
        "WAL generation rate",
        "Bytes of WAL each server writes per second: what standbys must receive and replay "
        "and archiving must store. Standbys generate (almost) none. Spikes come from bulk "
        "writes, and from full-page images after each checkpoint.",
        Query(f"{generated} or ({position} and on (target) {primaries})", "{{target}}"),
        unit="Bps",
    )


def wal_size() -> Json:
    return timeseries(
        "WAL directory size",
        "Total size of the segment files in pg_wal. It rises when slots, wal_keep_size, "
        "failing archiving or a distant checkpoint keep WAL, and falls after checkpoints.",
        Query(sel("pg_wal_size_bytes", TARGET), "{{target}}"),
        unit="bytes",
    )


def dashboard() -> Dashboard:
    return Dashboard(
        uid="pgmon-replication",
        title="pgmon / Replication",
        description="Streaming replication: how far each standby trails in bytes and seconds, "
        "replication slots and the WAL they retain, and WAL volume.",
        sections=(
            Section(
                "Standbys, seen from the primary",
                "Lag per standby as the primary measures it.",
                (
                    per_standby(
                        "Replay lag per standby (bytes)",
                        "WAL the primary has that each standby has not replayed yet.",
                        "pg_stat_replication_replay_lag_bytes",
                        "bytes",
                    ),
                    per_standby(
                        "Replay lag per standby (seconds)",
                        "Time between the primary "
                        "flushing WAL and the standby reporting it replayed; it grows "
                        "while replay is stuck, and is 0 once caught up.",
                        "pg_stat_replication_replay_lag_seconds",
                        "s",
                    ),
                    lag_stages(),
                    senders_table(),
                ),
            ),
            Section(
                "Standbys, seen from themselves",
                "Role, WAL receiver and replay delay as each standby reports them.",
                (
                    *standby_stats(),
                    shared.standby_replay_delay(size=(12, 8)),
                    received_not_replayed(),
                ),
            ),
            Section(
                "Replication slots",
                "Slots and the WAL they retain.",
                (slots_table(), retained_wal()),
            ),
            Section("WAL", "How much WAL is written and kept.", (wal_rate(), wal_size())),
        ),
    )
