"""tables: per-table scans, tuples, vacuum/analyze history, sizes and cache hits.

For the `top_n` largest tables of the target (each database's query ranks by catalog
estimate, see queries/tables.sql; across databases they rank by size, see
monitor.collectors.remainder); all other tables are summed into one series per metric and
database with schemaname="" and relname="other". That remainder carries sums only: the
last_* timestamps are omitted for it, and its counters drop when a table moves into the
named set. Runs closer together than RANKING_MAX_AGE_SECONDS refresh the named tables and
repeat the remainder of the last ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.collectors.base import (
    Clock,
    CollectorSpec,
    Row,
    RunContext,
    SampleMemo,
    fetch_sized,
    fetch_top_relations,
    int_array,
    samples_from_rows,
)
from monitor.collectors.remainder import KEPT_NAMED, Remainder
from monitor.collectors.sizes import MeasuredSizes, Position, dating, due, wal_position
from monitor.metrics import Sample, counter, gauge

LABELS = ("datname", "schemaname", "relname")

_COUNTERS = {
    "seq_scan": "Sequential scans started on this table.",
    "seq_tup_read": "Live rows fetched by sequential scans.",
    "idx_scan": "Index scans started on this table's indexes.",
    "idx_tup_fetch": "Live rows fetched by index scans.",
    "n_tup_ins": "Rows inserted.",
    "n_tup_upd": "Rows updated (HOT updates included).",
    "n_tup_del": "Rows deleted.",
    "n_tup_hot_upd": "Rows HOT-updated (no index entry needed).",
    "vacuum_count": "Times this table was vacuumed manually (not VACUUM FULL).",
    "autovacuum_count": "Times this table was vacuumed by autovacuum.",
    "analyze_count": "Times this table was analyzed manually.",
    "autoanalyze_count": "Times this table was analyzed by autovacuum.",
}
_GAUGES = {
    "n_live_tup": "Estimated number of live rows.",
    "n_dead_tup": "Estimated number of dead rows.",
    "n_mod_since_analyze": "Estimated number of rows changed since the last analyze.",
    "last_vacuum": "Last manual vacuum, Unix seconds (0: never).",
    "last_autovacuum": "Last vacuum by autovacuum, Unix seconds (0: never).",
    "last_analyze": "Last manual analyze, Unix seconds (0: never).",
    "last_autoanalyze": "Last analyze by autovacuum, Unix seconds (0: never).",
    "table_size_bytes": "Disk space of the table with its TOAST data, without indexes "
    "(pg_table_size, measured at most every 5 minutes; estimated from relpages when the "
    "table is locked exclusively, until a table new to the top N is measured, and for "
    'relname="other").',
    "index_size_bytes": "Disk space of the table's indexes (pg_indexes_size, measured at "
    "most every 5 minutes; estimated from relpages when a relation is locked exclusively, "
    'until a table new to the top N is measured, and for relname="other").',
}
# column of queries/tables.sql -> postgres_exporter's name in pg_statio_user_tables
_STATIO = {
    "heap_blks_read": ("heap_blocks_read", "Disk blocks read from this table."),
    "heap_blks_hit": ("heap_blocks_hit", "Buffer hits in this table."),
    "idx_blks_read": ("idx_blocks_read", "Disk blocks read from this table's indexes."),
    "idx_blks_hit": ("idx_blocks_hit", "Buffer hits in this table's indexes."),
    "toast_blks_read": ("toast_blocks_read", "Disk blocks read from this table's TOAST table."),
    "toast_blks_hit": ("toast_blocks_hit", "Buffer hits in this table's TOAST table."),
    "tidx_blks_read": ("tidx_blocks_read", "Disk blocks read from the TOAST table's index."),
    "tidx_blks_hit": ("tidx_blocks_hit", "Buffer hits in the TOAST table's index."),
}
_NOTE = (
    ' Tables beyond the top N are summed in schemaname="", relname="other"; the ranking and'
    " that sum are redone at most every 5 minutes."
)

_TIMESTAMPS = ("last_vacuum", "last_autovacuum", "last_analyze", "last_autoanalyze")
_NOT_SUMMED = ' Not reported for the tables beyond the top N (relname="other").'


def _gauge_help(column: str, text: str) -> str:
    return text + (_NOT_SUMMED if column in _TIMESTAMPS else _NOTE)


METRICS = (
    *(counter(f"pg_stat_user_tables_{c}", h + _NOTE, *LABELS) for c, h in _COUNTERS.items()),
    *(gauge(f"pg_stat_user_tables_{c}", _gauge_help(c, h), *LABELS) for c, h in _GAUGES.items()),
    *(counter(f"pg_statio_user_tables_{n}", h + _NOTE, *LABELS) for n, h in _STATIO.values()),
)

_COLUMNS = {
    **{column: f"pg_stat_user_tables_{column}" for column in (*_COUNTERS, *_GAUGES)},
    **{column: f"pg_statio_user_tables_{name}" for column, (name, _) in _STATIO.items()},
}


def table_samples(rows: Iterable[Row], memo: SampleMemo | None = None) -> list[Sample]:
    """One sample per metric and row; the remainder row's NULL timestamps yield none."""
    return samples_from_rows(rows, LABELS, _COLUMNS, memo=memo)


# Exact sizes open every named table, its TOAST table and indexes: half the query's time
# at 200 or 2,000 tables. They are measured at most this often, and only after writes
# (monitor.collectors.sizes); the last measurement is reported in between.
SIZES_MAX_AGE_SECONDS = 300.0
SIZE_COLUMNS = ("table_size_bytes", "index_size_bytes")

# Ranking reads the statistics of every table and index: at 20,000 tables it costs ten
# times what reading the named tables alone does. A run ranks when the last ranking is
# this old and WAL was written since, as for sizes (monitor.collectors.sizes), or when a
# named table has gone. In between it reads afresh only the tables the target-wide cut
# kept named after the last run (monitor.collectors.remainder); the other rows of the
# ranking are repeated as they were, and the cut folds them into the remainder again.
RANKING_MAX_AGE_SECONDS = 300.0


@dataclass
class Ranking:
    """The rows of the last ranking, and when it was made."""

    at: float = float("-inf")
    rows: list[Row] = field(default_factory=list)
    wal_lsn: str | None = None

    def due(self, clock: Clock, position: Position) -> bool:
        return due(self.at, self.wal_lsn, RANKING_MAX_AGE_SECONDS, clock, position)

    def remember(self, rows: list[Row], now: float, wal_lsn: str | None) -> None:
        self.at, self.rows, self.wal_lsn = now, rows, wal_lsn

    def complete(self, named: list[Row]) -> list[Row]:
        """The named tables read afresh, then the ranking's other rows."""
        fresh = {row.relid for row in named}
        return named + [row for row in self.rows if row.relid not in fresh]

    def kept(self, ctx: RunContext) -> list[Row]:
        """The ranking's rows of the tables that the last cut kept named."""
        named = ctx.state.get(KEPT_NAMED)
        return [
            row
            for row in self.rows
            if row.relid is not None
            and (named is None or (row.datname, row.schemaname, row.relname) in named)
        ]


def _named_params(kept: list[Row], measured: MeasuredSizes) -> Callable[[bool], tuple[Any, ...]]:
    """tables_named's parameters: per table its TOAST index, and the sizes to report unless
    measured: the last measurement, else the ranking's estimate."""
    sizes = [measured.of(row) for row in kept]
    arrays = (
        int_array(row.relid for row in kept),
        int_array(row.toast_indexrelid for row in kept),
        int_array(table for table, _ in sizes),
        int_array(index for _, index in sizes),
    )
    return lambda exact: (exact, *arrays)


def _ranked_or_named(
    ctx: RunContext, ranking: Ranking, measured: MeasuredSizes, clock: Clock, position: Position
) -> tuple[list[Row], str | None]:
    """The rows, and the WAL position read before the sizes or the ranking they carry were
    made (None when neither was made, or on a standby)."""
    exact = measured.due(clock, position)
    rank = ranking.due(clock, position)
    wal_lsn = dating(exact or rank, position)
    if not rank:
        kept = ranking.kept(ctx)
        if not kept:  # no table of this database (often `postgres`) in the top N
            ctx.state["sizes_measured"] = False
            return ranking.complete([]), wal_lsn
        rows = fetch_sized(ctx, "tables_named", exact, _named_params(kept, measured))
        if len(rows) == len(kept):
            return ranking.complete(rows), wal_lsn
        wal_lsn = position()  # a table of the ranking is gone: rank again
    rows = fetch_top_relations(ctx, "tables", exact)
    ranking.remember(rows, clock.now, wal_lsn)
    return rows, wal_lsn


def collect(ctx: RunContext) -> list[Sample]:
    measured: MeasuredSizes = ctx.state.setdefault(
        "measured_sizes",
        MeasuredSizes(LABELS[1:], SIZE_COLUMNS, SIZES_MAX_AGE_SECONDS),
    )
    ranking: Ranking = ctx.state.setdefault("ranking", Ranking())
    clock = ctx.clock()
    rows, wal_lsn = _ranked_or_named(ctx, ranking, measured, clock, wal_position(ctx))
    rows = measured.update(ctx, rows, clock.now, wal_lsn)
    return table_samples(rows, ctx.state.setdefault("samples", {}))


SPEC = CollectorSpec(
    name="tables",
    description="Per-table scans, tuples, vacuum and analyze history, sizes and cache hits "
    "(top N tables of the target, the rest summed per database).",
    metrics=METRICS,
    queries=("tables", "tables_named", "sizes_wal_position"),
    collect=collect,
    interval=300.0,
    timeout=60.0,
    per_database=True,
    top_n=1000,
    remainder=Remainder(
        remainder_of=lambda labels: (labels[0], "", "other"),
        weight=("pg_stat_user_tables_table_size_bytes", "pg_stat_user_tables_index_size_bytes"),
        unsummed=frozenset(f"pg_stat_user_tables_{column}" for column in _TIMESTAMPS),
    ),
)
