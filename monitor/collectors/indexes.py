"""indexes: per-index scans, tuples, size, and the unique/primary/valid flags.

For the `top_n` largest indexes of the target, invalid ones first (per database in
queries/indexes.sql, then over all databases, see monitor.collectors.remainder); all other
indexes are summed into one series per metric and database with schemaname="",
relname="other", indexrelname="other". That remainder carries the counters and the size
only: flags and last scan time are omitted for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.collectors.base import (
    CollectorSpec,
    Row,
    RunContext,
    SampleMemo,
    fetch_top_relations,
    samples_from_rows,
)
from monitor.collectors.remainder import Remainder
from monitor.collectors.sizes import MeasuredSizes, dating, wal_position
from monitor.metrics import Sample, counter, gauge

LABELS = ("datname", "schemaname", "relname", "indexrelname")
_NOTE = (
    ' Indexes beyond the top N are summed in schemaname="", relname="other", indexrelname="other".'
)

METRICS = (
    counter(
        "pg_stat_user_indexes_scans_total",
        "Index scans started on this index (idx_scan)." + _NOTE,
        *LABELS,
    ),
    counter(
        "pg_stat_user_indexes_tuples_read_total",
        "Index entries returned by scans of this index (idx_tup_read)." + _NOTE,
        *LABELS,
    ),
    counter(
        "pg_stat_user_indexes_tuples_fetched_total",
        "Live table rows fetched by simple index scans of this index (idx_tup_fetch)." + _NOTE,
        *LABELS,
    ),
    gauge(
        "pg_stat_user_indexes_size_bytes",
        "Disk space of this index, all forks (measured at most every 5 minutes; estimated "
        "from relpages when it is locked exclusively, until an index new to the top N is "
        "measured, and for the remainder)." + _NOTE,
        *LABELS,
    ),
    gauge(
        "pg_stat_user_indexes_last_scan_timestamp_seconds",
        "Last scan of this index, Unix seconds (0: never since the statistics were reset). "
        "Not for the remainder.",
        *LABELS,
        min_version=160000,
    ),
    gauge("pg_index_is_unique", "1 if this is a unique index. Not for the remainder.", *LABELS),
    gauge(
        "pg_index_is_primary",
        "1 if this index backs the table's primary key. Not for the remainder.",
        *LABELS,
    ),
    gauge(
        "pg_index_is_valid",
        "0 if this index is invalid (a failed CREATE INDEX CONCURRENTLY or REINDEX, or a "
        "partitioned index missing on a partition): not used by queries, yet possibly "
        "updated by every write. Invalid indexes rank first, ahead of larger valid ones, so "
        "the remainder hides them only when more than N are invalid.",
        *LABELS,
    ),
)

_COLUMNS = {
    "idx_scan": "pg_stat_user_indexes_scans_total",
    "idx_tup_read": "pg_stat_user_indexes_tuples_read_total",
    "idx_tup_fetch": "pg_stat_user_indexes_tuples_fetched_total",
    "size_bytes": "pg_stat_user_indexes_size_bytes",
    "last_idx_scan": "pg_stat_user_indexes_last_scan_timestamp_seconds",
    "is_unique": "pg_index_is_unique",
    "is_primary": "pg_index_is_primary",
    "is_valid": "pg_index_is_valid",
}


def index_samples(rows: Iterable[Row], memo: SampleMemo | None = None) -> Iterable[Sample]:
    """One sample per metric and row; NULLs (remainder flags, last scan before PG16) yield none."""
    return samples_from_rows(rows, LABELS, _COLUMNS, memo=memo)


# Exact sizes open every named index: at 200 tables (600 indexes) nearly all of the
# query's time. They are measured at most this often, and only after writes
# (monitor.collectors.sizes); the last measurement is reported in between.
SIZES_MAX_AGE_SECONDS = 300.0


def collect(ctx: RunContext) -> Iterable[Sample]:
    measured: MeasuredSizes = ctx.state.setdefault(
        "measured_sizes",
        MeasuredSizes(LABELS[1:], ("size_bytes",), SIZES_MAX_AGE_SECONDS),
    )
    clock = ctx.clock()
    position = wal_position(ctx)
    exact = measured.due(clock, position)
    wal_lsn = dating(exact, position)
    rows = measured.update(ctx, fetch_top_relations(ctx, "indexes", exact), clock.now, wal_lsn)
    yield from index_samples(rows, ctx.state.setdefault("samples", {}))


SPEC = CollectorSpec(
    name="indexes",
    description="Per-index scans, tuples, size and unique/primary/valid flags "
    "(top N indexes of the target, invalid first, the rest summed per database).",
    metrics=METRICS,
    queries=("indexes", "sizes_wal_position"),
    collect=collect,
    interval=300.0,
    timeout=60.0,
    per_database=True,
    top_n=1000,
    remainder=Remainder(
        remainder_of=lambda labels: (labels[0], "", "other", "other"),
        weight=("pg_stat_user_indexes_size_bytes",),
        unsummed=frozenset(
            (
                "pg_stat_user_indexes_last_scan_timestamp_seconds",
                "pg_index_is_unique",
                "pg_index_is_primary",
                "pg_index_is_valid",
            )
        ),
        zero_first="pg_index_is_valid",
    ),
)
