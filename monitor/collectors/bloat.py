"""bloat: statistics-based estimates of the space tables and btree indexes waste, per database.

Keeps two row sets for monitor/findings/checks/bloat.py (see queries/bloat.sql and
queries/bloat_indexes.sql): `bloat_tables` and `bloat_indexes`, each the relations of at least
PREFILTER_BYTES wasting most (at most ROW_LIMIT). The estimates read only catalogs and
pg_stats, so they lock nothing, but they are only as fresh as the last ANALYZE and VACUUM:
the collector runs rarely. Exports the estimated waste per database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.collectors.base import CollectorSpec, Row, RunContext
from monitor.metrics import Sample, gauge

# Smaller relations cannot waste enough to matter; the checks' own minimum is far larger.
PREFILTER_BYTES = 1024 * 1024
ROW_LIMIT = 500

METRICS = (
    gauge(
        "pg_bloat_estimated_wasted_bytes",
        "Estimated space wasted by the tables and btree indexes of the database that have "
        "statistics, from pg_class and pg_stats (an estimate; relations under 1 MiB and "
        "beyond the 500 wasting most of each kind are not counted).",
        "datname",
    ),
)


def wasted_samples(datname: str, tables: Sequence[Row], indexes: Sequence[Row]) -> Iterable[Sample]:
    wasted = sum(row.wasted_bytes for row in tables) + sum(row.wasted_bytes for row in indexes)
    yield Sample("pg_bloat_estimated_wasted_bytes", (datname,), float(wasted))


def collect(ctx: RunContext) -> Iterable[Sample]:
    tables = ctx.fetch("bloat", (PREFILTER_BYTES, ROW_LIMIT))
    indexes = ctx.fetch("bloat_indexes", (PREFILTER_BYTES, ROW_LIMIT))
    ctx.keep("bloat_tables", tables)
    ctx.keep("bloat_indexes", indexes)
    ctx.keep("bloat_hidden", ctx.fetch("bloat_hidden", (PREFILTER_BYTES,)))
    yield from wasted_samples(ctx.database, tables, indexes)


SPEC = CollectorSpec(
    name="bloat",
    description="Per database, estimated wasted space of tables and btree indexes from "
    "pg_class and pg_stats (no locks; refreshed hourly), kept for the bloat checks.",
    metrics=METRICS,
    queries=("bloat", "bloat_indexes", "bloat_hidden"),
    collect=collect,
    interval=3600.0,
    timeout=60.0,
    statement_timeout=45.0,
    per_database=True,
)
