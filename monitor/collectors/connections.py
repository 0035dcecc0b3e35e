"""connections: sessions by database and state, wait events, and headroom to max_connections."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.collectors.base import CollectorSpec, Row, RunContext, samples_from_rows
from monitor.metrics import Sample, gauge

METRICS = (
    gauge("pg_stat_activity_count", "Client sessions per database and state.", "datname", "state"),
    gauge(
        "pg_stat_activity_max_tx_duration",
        "Age in seconds of the oldest open transaction per database and state.",
        "datname",
        "state",
    ),
    gauge(
        "pg_stat_activity_max_query_duration_seconds",
        "Run time of the longest-running active query per database.",
        "datname",
        "state",
    ),
    gauge(
        "pg_stat_activity_max_state_duration_seconds",
        "Longest time a session has been in its current state, per database and state "
        "(for 'idle in transaction': the idle-in-transaction age).",
        "datname",
        "state",
    ),
    gauge(
        "pg_stat_activity_wait_event_sessions",
        "Active client sessions per database and wait event type ('none': not waiting).",
        "datname",
        "wait_event_type",
    ),
    gauge("pg_settings_max_connections", "Server setting max_connections."),
    gauge(
        "pg_settings_superuser_reserved_connections",
        "Server setting superuser_reserved_connections.",
    ),
    gauge(
        "pg_settings_reserved_connections",
        "Server setting reserved_connections (0 before PostgreSQL 16).",
    ),
    gauge(
        "pg_stat_activity_connections_used_ratio",
        "Client sessions as a fraction of the connections available to ordinary roles "
        "(max_connections minus the reserved ones).",
    ),
)


def activity_samples(rows: Iterable[Row]) -> Iterable[Sample]:
    return samples_from_rows(
        rows,
        ("datname", "state"),
        {
            "sessions": "pg_stat_activity_count",
            "max_tx_seconds": "pg_stat_activity_max_tx_duration",
            "max_query_seconds": "pg_stat_activity_max_query_duration_seconds",
            "max_state_seconds": "pg_stat_activity_max_state_duration_seconds",
        },
    )


def wait_event_samples(rows: Iterable[Row]) -> Iterable[Sample]:
    return samples_from_rows(
        rows, ("datname", "wait_event_type"), {"sessions": "pg_stat_activity_wait_event_sessions"}
    )


def limit_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    for row in rows:
        yield Sample("pg_settings_max_connections", (), row.max_connections)
        yield Sample("pg_settings_superuser_reserved_connections", (), row.superuser_reserved)
        yield Sample("pg_settings_reserved_connections", (), row.reserved)
        available = row.max_connections - row.superuser_reserved - row.reserved
        yield Sample(
            "pg_stat_activity_connections_used_ratio",
            (),
            row.used / available if available > 0 else 1.0,
        )


def collect(ctx: RunContext) -> Iterable[Sample]:
    yield from activity_samples(ctx.fetch("connections"))
    yield from wait_event_samples(ctx.fetch("connections_wait_events"))
    limits = ctx.fetch("connections_limits")
    ctx.keep("connections_limits", limits)
    yield from limit_samples(limits)


SPEC = CollectorSpec(
    name="connections",
    description="Sessions by database and state, waits, transaction ages, connection headroom.",
    metrics=METRICS,
    queries=("connections", "connections_wait_events", "connections_limits"),
    collect=collect,
    interval=15.0,
    timeout=10.0,
)
