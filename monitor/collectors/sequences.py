"""sequences: how much of its usable range each sequence has used, for the findings.

Per database, the `top_n` most used sequences that pgmon may read (see queries/sequences.sql:
the range is bounded by the sequence and by the narrowest integer column it feeds) are kept
for the `sequence_exhaustion` check, with a count of the sequences pgmon may not read
(pg_monitor grants no access to sequence values). The metrics are per database only: the
highest fraction used, and how many sequences could not be read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.collectors.base import CollectorSpec, Row, RunContext
from monitor.metrics import Sample, gauge

METRICS = (
    gauge(
        "pg_sequences_max_used_ratio",
        "Highest fraction of its usable range used by a readable sequence of the database "
        "(the range ends at the sequence's own limit or at the maximum of the narrowest "
        "integer column it feeds, whichever comes first). Absent when no readable sequence "
        "has been used.",
        "datname",
    ),
    gauge(
        "pg_sequences_unreadable",
        "Sequences of the database whose value pgmon may not read (it needs SELECT on them, "
        "or pg_read_all_data), so the sequences' use is not measured.",
        "datname",
    ),
)


def used_samples(datname: str, rows: Sequence[Row]) -> Iterable[Sample]:
    used = [row.used_fraction for row in rows if row.used_fraction is not None]
    if used:
        yield Sample("pg_sequences_max_used_ratio", (datname,), float(max(used)))


def unreadable_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    for row in rows:
        yield Sample("pg_sequences_unreadable", (row.datname,), float(row.unreadable))


def collect(ctx: RunContext) -> Iterable[Sample]:
    used = ctx.fetch("sequences", (ctx.top_n,))
    ctx.keep("sequences", used)
    yield from used_samples(ctx.database, used)
    unreadable = ctx.fetch("sequences_unreadable")
    ctx.keep("sequences_unreadable", unreadable)
    yield from unreadable_samples(unreadable)


SPEC = CollectorSpec(
    name="sequences",
    description="Per database, how much of their usable range sequences have used (the column "
    "type they feed included), and how many pgmon may not read.",
    metrics=METRICS,
    queries=("sequences", "sequences_unreadable"),
    collect=collect,
    interval=300.0,
    timeout=30.0,
    per_database=True,
    top_n=100,
)
