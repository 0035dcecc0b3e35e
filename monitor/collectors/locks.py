"""locks: locks by database and mode, waiting requests, and the shape of blocking chains."""

from __future__ import annotations

from collections.abc import Iterable

from monitor.collectors.base import CollectorSpec, Row, RunContext, samples_from_rows
from monitor.metrics import Sample, gauge

METRICS = (
    gauge("pg_locks_count", "Lock entries per database and mode.", "datname", "mode"),
    gauge(
        "pg_locks_waiting",
        "Lock requests waiting to be granted, per database and mode.",
        "datname",
        "mode",
    ),
    gauge("pg_locks_blocked_sessions", "Sessions waiting for a lock held or requested by another."),
    gauge(
        "pg_locks_root_blockers",
        "Sessions that block others while not waiting themselves (the heads of blocking chains).",
    ),
    gauge(
        "pg_locks_blocking_chain_max_depth",
        "Longest blocking chain: 1 when a session waits on one that is not waiting, "
        "2 when a third waits on that waiter, and so on.",
    ),
    gauge("pg_locks_max_wait_seconds", "Longest current wait for a heavyweight lock."),
)


def lock_samples(rows: Iterable[Row]) -> Iterable[Sample]:
    return samples_from_rows(
        rows,
        ("datname", "mode"),
        {"locks": "pg_locks_count", "waiting": "pg_locks_waiting"},
    )


def blocking_samples(rows: Iterable[Row]) -> Iterable[Sample]:
    return samples_from_rows(
        rows,
        (),
        {
            "blocked_sessions": "pg_locks_blocked_sessions",
            "root_blockers": "pg_locks_root_blockers",
            "max_chain_depth": "pg_locks_blocking_chain_max_depth",
            "max_wait_seconds": "pg_locks_max_wait_seconds",
        },
    )


def collect(ctx: RunContext) -> Iterable[Sample]:
    yield from lock_samples(ctx.fetch("locks"))
    yield from blocking_samples(ctx.fetch("locks_blocking"))


SPEC = CollectorSpec(
    name="locks",
    description="Locks by database and mode, waiting requests, blocked sessions and chains.",
    metrics=METRICS,
    queries=("locks", "locks_blocking"),
    collect=collect,
    interval=15.0,
    timeout=10.0,
)
