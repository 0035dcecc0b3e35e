"""locks: rows in, samples out."""

from __future__ import annotations

from collections import namedtuple

from monitor.collectors import locks
from monitor.metrics import Sample

LockRow = namedtuple("LockRow", "datname mode locks waiting")
Blocking = namedtuple("Blocking", "blocked_sessions root_blockers max_chain_depth max_wait_seconds")


def test_lock_rows() -> None:
    samples = list(locks.lock_samples([LockRow("app", "rowexclusivelock", 4, 1)]))
    assert samples == [
        Sample("pg_locks_count", ("app", "rowexclusivelock"), 4),
        Sample("pg_locks_waiting", ("app", "rowexclusivelock"), 1),
    ]


def test_blocking_summary() -> None:
    samples = {s.metric: s.value for s in locks.blocking_samples([Blocking(2, 1, 2, 3.5)])}
    assert samples == {
        "pg_locks_blocked_sessions": 2,
        "pg_locks_root_blockers": 1,
        "pg_locks_blocking_chain_max_depth": 2,
        "pg_locks_max_wait_seconds": 3.5,
    }
