"""wal: WAL position, WAL generated and written (pg_stat_wal), and the size of pg_wal."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.collectors.base import CollectorSpec, Row, RunContext, samples_from_rows
from monitor.metrics import MetricSpec, Sample, counter, gauge

PG14 = 140000

# pg_stat_wal columns under postgres_exporter's names (its stat_wal collector): counters
# without `_total`, times in ms. On PG18 the write/sync columns come from pg_stat_io.
STAT_WAL_COLUMNS: dict[str, str] = {
    "wal_records": "WAL records generated.",
    "wal_fpi": "WAL full page images generated.",
    "wal_bytes": "WAL generated, in bytes.",
    "wal_buffers_full": "Times WAL was written out because the WAL buffers were full.",
    "wal_write": "Times WAL buffers were written to disk (PG18+: pg_stat_io, object 'wal').",
    "wal_sync": "Times WAL files were synced to disk (PG18+: pg_stat_io, object 'wal').",
    "wal_write_time": "Time spent writing WAL, in milliseconds (needs track_wal_io_timing).",
    "wal_sync_time": "Time spent syncing WAL, in milliseconds (needs track_wal_io_timing).",
}

METRICS: tuple[MetricSpec, ...] = (
    gauge(
        "pg_wal_lsn_location_bytes",
        "WAL position in bytes: pg_current_wal_lsn() on a primary, the last replayed position "
        "on a standby.",
    ),
    gauge(
        "pg_wal_receive_lsn_bytes",
        "On a standby: last WAL position received and flushed by the WAL receiver, in bytes.",
    ),
    gauge("pg_wal_segments", "WAL segment files in pg_wal."),
    gauge("pg_wal_size_bytes", "Total size of the WAL segment files in pg_wal."),
    *(
        counter(f"pg_stat_wal_{column}", text, min_version=PG14)
        for column, text in STAT_WAL_COLUMNS.items()
    ),
    counter(
        "pg_stat_wal_stats_reset",
        "Unix time pg_stat_wal was last reset (0: never).",
        min_version=PG14,
    ),
)


def position_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    return samples_from_rows(
        rows,
        (),
        {
            "lsn_location_bytes": "pg_wal_lsn_location_bytes",
            "receive_lsn_bytes": "pg_wal_receive_lsn_bytes",
        },
    )


def directory_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    return samples_from_rows(
        rows, (), {"segments": "pg_wal_segments", "size_bytes": "pg_wal_size_bytes"}
    )


def stats_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    """pg_stat_wal's single row; PG13 has none."""
    yield from samples_from_rows(
        rows, (), {column: f"pg_stat_wal_{column}" for column in STAT_WAL_COLUMNS}
    )
    for row in rows:
        # postgres_exporter reports never-reset statistics as 0 rather than leaving them out.
        yield Sample("pg_stat_wal_stats_reset", (), float(row.stats_reset or 0))


def collect(ctx: RunContext) -> Iterable[Sample]:
    position = ctx.fetch("wal")
    yield from position_samples(position)
    yield from stats_samples(ctx.fetch("wal_stats"))
    # Without EXECUTE on pg_ls_waldir() the rest is still worth having.
    if position and position[0].can_list_waldir:
        yield from directory_samples(ctx.fetch("wal_directory"))


SPEC = CollectorSpec(
    name="wal",
    description="WAL position, WAL generated and written (pg_stat_wal), size of pg_wal.",
    metrics=METRICS,
    queries=("wal", "wal_stats", "wal_directory"),
    collect=collect,
    interval=30.0,
    timeout=20.0,
)
