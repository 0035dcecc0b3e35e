"""archiver: WAL archiving successes, failures, their times, and the backlog of segments."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.collectors.base import CollectorSpec, Row, RunContext, label, samples_from_rows
from monitor.metrics import Sample, counter, gauge

ARCHIVE_MODES = ("off", "on", "always")

METRICS = (
    counter("pg_stat_archiver_archived_count", "WAL files archived successfully."),
    counter("pg_stat_archiver_failed_count", "Failed attempts to archive a WAL file."),
    gauge(
        "pg_stat_archiver_last_archive_age",
        "Seconds since the last WAL file was archived successfully (absent: never).",
    ),
    gauge(
        "pg_stat_archiver_last_failed_timestamp_seconds",
        "Unix time of the last failed archiving attempt (0: never).",
    ),
    gauge(
        "pg_archiver_archive_mode",
        "1 for the server's archive_mode setting (off, on, always), 0 for the other values.",
        "mode",
    ),
    gauge(
        "pg_archiver_enabled",
        "1 when this server archives WAL now: archive_mode 'always', or 'on' outside recovery.",
    ),
    gauge(
        "pg_archiver_pending_wal_files",
        "WAL segments waiting to be archived (.ready files in pg_wal/archive_status).",
    ),
)


def archiving(mode: str, in_recovery: bool) -> bool:
    return mode == "always" or (mode == "on" and not in_recovery)


def archiver_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    yield from samples_from_rows(
        rows,
        (),
        {
            "archived_count": "pg_stat_archiver_archived_count",
            "failed_count": "pg_stat_archiver_failed_count",
            "last_archive_age": "pg_stat_archiver_last_archive_age",
        },
    )
    for row in rows:
        yield Sample(
            "pg_stat_archiver_last_failed_timestamp_seconds", (), float(row.last_failed_time or 0)
        )
        mode = label(row.archive_mode)
        for value in (*ARCHIVE_MODES, *(() if mode in ARCHIVE_MODES else (mode,))):
            yield Sample("pg_archiver_archive_mode", (value,), 1.0 if value == mode else 0.0)
        yield Sample("pg_archiver_enabled", (), 1.0 if archiving(mode, row.in_recovery) else 0.0)


def pending_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    return samples_from_rows(rows, (), {"pending": "pg_archiver_pending_wal_files"})


def collect(ctx: RunContext) -> Iterable[Sample]:
    status = ctx.fetch("archiver")
    yield from archiver_samples(status)
    if status and status[0].can_list_status:
        yield from pending_samples(ctx.fetch("archiver_pending"))


SPEC = CollectorSpec(
    name="archiver",
    description="WAL archiving: successes, failures, last archive age, archive_mode, backlog.",
    metrics=METRICS,
    queries=("archiver", "archiver_pending"),
    collect=collect,
    interval=30.0,
    timeout=10.0,
)
