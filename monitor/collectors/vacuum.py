"""vacuum: the tables the vacuum and wraparound checks judge, per database.

Keeps two row sets for the findings (see queries/vacuum.sql and queries/vacuum_freeze.sql):
`vacuum`, tables with dead tuples, changes since their last vacuum or autovacuum disabled
(bounded by `top_n` twice over: most dead tuples, longest without vacuum), and
`vacuum_freeze`, the tables with the oldest transaction and multixact IDs. Exports, per
database, the age of the oldest table's transaction ID and how many tables have autovacuum
disabled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.collectors.base import CollectorSpec, Row, RunContext
from monitor.metrics import Sample, gauge

METRICS = (
    gauge(
        "pg_vacuum_oldest_table_xid_age",
        "Age, in transactions, of the oldest unfrozen transaction ID of any table of the "
        "database (TOAST, catalogs and materialized views included): what VACUUM (FREEZE) of "
        "that table would lower the database's wraparound age to, at most.",
        "datname",
    ),
    gauge(
        "pg_vacuum_autovacuum_disabled_tables",
        "Tables of the database with the storage parameter autovacuum_enabled = false.",
        "datname",
    ),
)


def freeze_samples(datname: str, rows: Sequence[Row]) -> Iterable[Sample]:
    if rows:
        oldest = max(row.xid_age for row in rows)
        yield Sample("pg_vacuum_oldest_table_xid_age", (datname,), float(oldest))


def table_samples(datname: str, rows: Sequence[Row]) -> Iterable[Sample]:
    disabled = sum(1 for row in rows if not row.autovacuum_enabled)
    yield Sample("pg_vacuum_autovacuum_disabled_tables", (datname,), float(disabled))


def collect(ctx: RunContext) -> Iterable[Sample]:
    tables = ctx.fetch("vacuum", (ctx.top_n, ctx.top_n))
    ctx.keep("vacuum", tables)
    yield from table_samples(ctx.database, tables)
    frozen = ctx.fetch("vacuum_freeze")
    ctx.keep("vacuum_freeze", frozen)
    yield from freeze_samples(ctx.database, frozen)


SPEC = CollectorSpec(
    name="vacuum",
    description="Per database, tables with dead tuples, changes not yet vacuumed or autovacuum "
    "disabled, and the tables with the oldest transaction and multixact IDs (for the findings).",
    metrics=METRICS,
    queries=("vacuum", "vacuum_freeze"),
    collect=collect,
    interval=300.0,
    timeout=60.0,
    per_database=True,
    top_n=500,
)
