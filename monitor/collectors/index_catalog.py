"""index_catalog: every user index and foreign key of each database, kept for the index checks.

The rows (queries/index_catalog.sql, queries/index_catalog_fkeys.sql,
queries/index_catalog_window.sql) are kept under the names `index_catalog`,
`index_catalog_fkeys` and `index_catalog_window` for monitor/findings/checks/indexes.py;
the metrics are just their counts per database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg

from monitor.collectors.base import CollectorSpec, Row, RunContext
from monitor.metrics import Sample, gauge

METRICS = (
    gauge(
        "pg_database_indexes",
        "User indexes in this database, partitioned indexes and their partitions included.",
        "datname",
    ),
    gauge(
        "pg_database_foreign_keys",
        "Foreign keys declared on user tables of this database (a partitioned table's counted "
        "once, not per partition).",
        "datname",
    ),
)


def count_samples(
    database: str, indexes: Sequence[Row], foreign_keys: Sequence[Row]
) -> Iterable[Sample]:
    yield Sample("pg_database_indexes", (database,), float(len(indexes)))
    yield Sample("pg_database_foreign_keys", (database,), float(len(foreign_keys)))


def fetch_indexes(ctx: RunContext) -> list[Row]:
    """The catalog, deparsing expressions only where no ACCESS EXCLUSIVE lock is in the way.

    A lock requested after pg_locks was read can still make pg_get_expr() wait until
    lock_timeout cancels the statement; the run then asks again without deparsing anything
    (those indexes are judged on the next run).
    """
    last = ctx.state.get("last_indexes", ())
    try:
        with ctx.may_fail():
            return ctx.fetch(
                "index_catalog", (True,), share_values=True, previous=last, key="indexrelid"
            )
    except psycopg.errors.LockNotAvailable:
        return ctx.fetch(
            "index_catalog", (False,), share_values=True, previous=last, key="indexrelid"
        )


def collect(ctx: RunContext) -> Iterable[Sample]:
    indexes = fetch_indexes(ctx)
    ctx.state["last_indexes"] = indexes
    foreign_keys = ctx.fetch("index_catalog_fkeys", share_values=True)
    ctx.keep("index_catalog", indexes)
    ctx.keep("index_catalog_fkeys", foreign_keys)
    ctx.keep("index_catalog_window", ctx.fetch("index_catalog_window"))
    yield from count_samples(ctx.database, indexes, foreign_keys)


SPEC = CollectorSpec(
    name="index_catalog",
    description="Every user index (key columns, operator classes, constraint, validity, scans, "
    "size) and foreign key, kept for the index checks; counts per database.",
    metrics=METRICS,
    queries=("index_catalog", "index_catalog_fkeys", "index_catalog_window"),
    collect=collect,
    # What the index checks judge changes over days (unused: weeks of scan counts) or by
    # DDL (duplicates, missing foreign key indexes, invalid indexes); reading and deparsing
    # every index was a sixth of pgmon's database time on a 200-table database at 5 minutes.
    interval=900.0,
    timeout=60.0,
    statement_timeout=45.0,
    per_database=True,
)
