"""database: pg_stat_database activity, database sizes, and transaction ID wraparound ages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from monitor.collectors.base import (
    Clock,
    CollectorSpec,
    Row,
    RunContext,
    label,
    samples_from_rows,
)
from monitor.collectors.sizes import dating, due, wal_position
from monitor.metrics import MetricSpec, Sample, counter, gauge

STAT = ("datid", "datname")
PG14 = 140000
PG18 = 180000
MS = 1000.0

# pg_stat_database columns exported under postgres_exporter's names, unchanged (its
# counters carry no _total, and blk_*_time stay in milliseconds as it exports them).
EXPORTER_COUNTERS: dict[str, str] = {
    "xact_commit": "Transactions committed in this database.",
    "xact_rollback": "Transactions rolled back in this database.",
    "blks_read": "Disk blocks read in this database (cache misses).",
    "blks_hit": "Disk blocks found in shared buffers (cache hits).",
    "tup_returned": "Rows returned by queries in this database.",
    "tup_fetched": "Rows fetched by queries in this database.",
    "tup_inserted": "Rows inserted by queries in this database.",
    "tup_updated": "Rows updated by queries in this database.",
    "tup_deleted": "Rows deleted by queries in this database.",
    "conflicts": "Queries canceled due to conflicts with recovery (standbys only).",
    "temp_files": "Temporary files created by queries in this database.",
    "temp_bytes": "Bytes written to temporary files by queries in this database.",
    "deadlocks": "Deadlocks detected in this database.",
    "blk_read_time": "Time spent reading data file blocks, in milliseconds (track_io_timing).",
    "blk_write_time": "Time spent writing data file blocks, in milliseconds (track_io_timing).",
}

# Columns without a postgres_exporter name: Prometheus conventions, times in seconds.
# column -> (metric, help, divisor, min_version)
NEW_COUNTERS: dict[str, tuple[str, str, float, int]] = {
    "session_time": (
        "pg_stat_database_session_time_seconds_total",
        "Time spent by sessions in this database.",
        MS,
        PG14,
    ),
    "idle_in_transaction_time": (
        "pg_stat_database_idle_in_transaction_time_seconds_total",
        "Time sessions in this database spent idle in a transaction.",
        MS,
        PG14,
    ),
    "sessions": (
        "pg_stat_database_sessions_total",
        "Sessions established to this database.",
        1.0,
        PG14,
    ),
    "sessions_abandoned": (
        "pg_stat_database_sessions_abandoned_total",
        "Sessions to this database that ended because the client went away.",
        1.0,
        PG14,
    ),
    "sessions_fatal": (
        "pg_stat_database_sessions_fatal_total",
        "Sessions to this database that ended with a fatal error.",
        1.0,
        PG14,
    ),
    "sessions_killed": (
        "pg_stat_database_sessions_killed_total",
        "Sessions to this database that were terminated by an operator.",
        1.0,
        PG14,
    ),
    "checksum_failures": (
        "pg_stat_database_checksum_failures_total",
        "Data page checksum failures detected in this database (only with data checksums).",
        1.0,
        0,
    ),
    "parallel_workers_to_launch": (
        "pg_stat_database_parallel_workers_to_launch_total",
        "Parallel workers planned to be launched by queries in this database.",
        1.0,
        PG18,
    ),
    "parallel_workers_launched": (
        "pg_stat_database_parallel_workers_launched_total",
        "Parallel workers launched by queries in this database.",
        1.0,
        PG18,
    ),
}

METRICS: tuple[MetricSpec, ...] = (
    gauge("pg_stat_database_numbackends", "Sessions currently connected to this database.", *STAT),
    *(
        counter(f"pg_stat_database_{column}", text, *STAT)
        for column, text in EXPORTER_COUNTERS.items()
    ),
    counter(
        "pg_stat_database_stats_reset",
        "Unix time at which these statistics were last reset (0: never).",
        *STAT,
    ),
    counter(
        "pg_stat_database_active_time_seconds_total",
        "Time spent executing SQL statements in this database.",
        *STAT,
        min_version=PG14,
    ),
    *(
        counter(metric, text, *STAT, min_version=version)
        for metric, text, _, version in NEW_COUNTERS.values()
    ),
    gauge(
        "pg_stat_database_checksum_last_failure_timestamp_seconds",
        "Unix time of the last data page checksum failure in this database (only with data "
        "checksums; 0: never).",
        *STAT,
    ),
    gauge(
        "pg_database_size_bytes",
        "Disk space used by the database (measured every 5 minutes while WAL is written or on "
        "a standby, every 15 minutes otherwise).",
        "datname",
    ),
    gauge(
        "pg_database_connection_limit",
        "Maximum concurrent connections allowed to the database (-1: no limit).",
        "datname",
    ),
    gauge(
        "pg_database_wraparound_age_datfrozenxid_seconds",
        "Age, in transactions (not seconds, despite the name kept from postgres_exporter), of "
        "the database's oldest unfrozen transaction ID; compare with "
        "pg_settings_autovacuum_freeze_max_age.",
        "datname",
    ),
    gauge(
        "pg_database_wraparound_age_datminmxid_seconds",
        "Age, in multixacts (not seconds, despite the name kept from postgres_exporter), of the "
        "database's oldest multixact ID; compare with "
        "pg_settings_autovacuum_multixact_freeze_max_age.",
        "datname",
    ),
    gauge(
        "pg_settings_autovacuum_freeze_max_age",
        "Server setting autovacuum_freeze_max_age: the transaction ID age that forces an "
        "anti-wraparound vacuum.",
    ),
    gauge(
        "pg_settings_autovacuum_multixact_freeze_max_age",
        "Server setting autovacuum_multixact_freeze_max_age: the multixact age that forces an "
        "anti-wraparound vacuum.",
    ),
)


def stat_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    yield from samples_from_rows(
        rows,
        STAT,
        {
            "numbackends": "pg_stat_database_numbackends",
            **{column: f"pg_stat_database_{column}" for column in EXPORTER_COUNTERS},
        },
    )
    for row in rows:
        labels = (label(row.datid), label(row.datname))
        # postgres_exporter reports a never-reset counter set as 0 rather than leaving it out.
        yield Sample("pg_stat_database_stats_reset", labels, float(row.stats_reset or 0))
        if row.active_time is not None:
            yield Sample("pg_stat_database_active_time_seconds_total", labels, row.active_time / MS)
        for column, (metric, _, divisor, _) in NEW_COUNTERS.items():
            value = getattr(row, column)
            if value is not None:
                yield Sample(metric, labels, float(value) / divisor)
        if row.checksum_failures is not None:
            yield Sample(
                "pg_stat_database_checksum_last_failure_timestamp_seconds",
                labels,
                float(row.checksum_last_failure or 0),
            )


def catalog_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    return samples_from_rows(
        rows,
        ("datname",),
        {
            "size_bytes": "pg_database_size_bytes",
            "connection_limit": "pg_database_connection_limit",
            "frozen_xid_age": "pg_database_wraparound_age_datfrozenxid_seconds",
            "min_mxid_age": "pg_database_wraparound_age_datminmxid_seconds",
        },
    )


def settings_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    settings = ("autovacuum_freeze_max_age", "autovacuum_multixact_freeze_max_age")
    return samples_from_rows(rows, (), {name: f"pg_settings_{name}" for name in settings})


# pg_database_size() lists and stats every file of a database. Like relation sizes
# (monitor/collectors/sizes.py), the sizes are measured again, all at once, only when
# SIZE_MAX_AGE_SECONDS have passed and WAL was written since the last measurement, or the
# server is a standby; otherwise after UNCHANGED_MAX_AGE_SECONDS. On a primary a transaction
# that writes logs WAL, if only its commit record (unlogged tables included); what changes a
# size without WAL shows within UNCHANGED_MAX_AGE_SECONDS. A database new since the last
# measurement is measured at once. In between, the last sizes are repeated.
SIZE_MAX_AGE_SECONDS = 300.0


@dataclass
class MeasuredSizes:
    """Each database's last measured size, and when and at which WAL position all were."""

    at: float = float("-inf")
    wal_lsn: str | None = None
    sizes: dict[str, float] = field(default_factory=dict)

    def fetch(self, ctx: RunContext, names: Iterable[str], clock: Clock) -> list[Row]:
        position = wal_position(ctx)
        every = due(self.at, self.wal_lsn, SIZE_MAX_AGE_SECONDS, clock, position)
        wal_lsn = dating(every, position)
        new = [] if every else [name for name in names if name not in self.sizes]
        rows = ctx.fetch("database_catalog", (every, new))
        measured = {row.datname: row.size_bytes for row in rows if row.size_bytes is not None}
        if every:
            self.at, self.wal_lsn = clock.now, wal_lsn
        sizes = measured if every else self.sizes | measured
        self.sizes = {row.datname: sizes[row.datname] for row in rows if row.datname in sizes}
        return [row._replace(size_bytes=self.sizes.get(row.datname)) for row in rows]


def collect(ctx: RunContext) -> Iterable[Sample]:
    stats = ctx.fetch("database")
    yield from stat_samples(stats)
    measured: MeasuredSizes = ctx.state.setdefault("measured_sizes", MeasuredSizes())
    names = (row.datname for row in stats if row.datname is not None)
    catalog = measured.fetch(ctx, names, ctx.clock())
    ctx.keep("database_catalog", catalog)  # wraparound ages, for the findings
    yield from catalog_samples(catalog)
    settings = ctx.fetch("database_settings")
    ctx.keep("database_settings", settings)
    yield from settings_samples(settings)


SPEC = CollectorSpec(
    name="database",
    description="pg_stat_database counters, database sizes, XID and multixact wraparound ages.",
    metrics=METRICS,
    queries=("database", "database_catalog", "sizes_wal_position", "database_settings"),
    collect=collect,
    interval=30.0,
    timeout=20.0,
)
