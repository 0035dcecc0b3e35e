"""locks: real blocked sessions, a chain of three, measured by a pg_monitor-only role."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from monitor.collectors import locks
from tests.collecting import collect
from tests.daemon import wait_for
from tests.pgserver import MONITOR_ROLE, Cluster

TABLE = "pgmon_lock_test"


@pytest.fixture
def table(pg_cluster: Cluster) -> Iterator[None]:
    pg_cluster.primary.execute(f"CREATE TABLE {TABLE} (id int PRIMARY KEY, v int)")  # type: ignore[arg-type]
    pg_cluster.primary.execute(f"INSERT INTO {TABLE} VALUES (1, 0), (2, 0)")  # type: ignore[arg-type]
    yield
    pg_cluster.primary.execute(f"DROP TABLE {TABLE}")  # type: ignore[arg-type]


@contextmanager
def waiting(pg_cluster: Cluster, statements: list[str]) -> Iterator[list[BaseException]]:
    """Run `statements` in a transaction of its own, in a thread, that will block."""
    errors: list[BaseException] = []
    conn = pg_cluster.primary.connect()
    conn.autocommit = False

    def work() -> None:
        try:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]
            conn.rollback()
        except BaseException as exc:  # surfaced by the test
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        yield errors
    finally:
        thread.join(30)
        conn.close()


def lock_waiters(pg_cluster: Cluster) -> int:
    return int(
        pg_cluster.primary.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        )
    )


def test_one_session_blocking_another(pg_cluster: Cluster, table: None) -> None:
    dsn = pg_cluster.primary.dsn(user=MONITOR_ROLE)
    with pg_cluster.primary.connect() as holder:
        holder.autocommit = False
        holder.execute(f"UPDATE {TABLE} SET v = 1 WHERE id = 1")  # type: ignore[arg-type]
        with waiting(pg_cluster, [f"UPDATE {TABLE} SET v = 2 WHERE id = 1"]) as errors:
            wait_for(lambda: lock_waiters(pg_cluster) == 1, 10, "one session waiting")
            wait_for(lambda: True, 0.3, "")
            result = collect(locks.SPEC, dsn)
            holder.rollback()
        assert not errors
    assert result.value("pg_locks_blocked_sessions") == 1
    assert result.value("pg_locks_root_blockers") == 1
    assert result.value("pg_locks_blocking_chain_max_depth") == 1
    wait = result.value("pg_locks_max_wait_seconds")
    assert wait is not None and wait > 0
    assert result.total("pg_locks_waiting", datname="postgres") >= 1
    assert (result.value("pg_locks_count", datname="postgres", mode="rowexclusivelock") or 0) >= 2
    # Every database x mode is present, zeros included, with postgres_exporter's lower-case modes.
    modes = {labels["mode"] for labels, _ in result.samples("pg_locks_count")}
    assert "accessexclusivelock" in modes and "sireadlock" in modes


def test_chain_of_three(pg_cluster: Cluster, table: None) -> None:
    dsn = pg_cluster.primary.dsn(user=MONITOR_ROLE)
    with pg_cluster.primary.connect() as head:
        head.autocommit = False
        head.execute(f"UPDATE {TABLE} SET v = 1 WHERE id = 1")  # type: ignore[arg-type]
        # middle holds row 2 and then waits for head's row 1; tail waits for middle's row 2.
        middle = [
            f"UPDATE {TABLE} SET v = 2 WHERE id = 2",
            f"UPDATE {TABLE} SET v = 2 WHERE id = 1",
        ]
        with waiting(pg_cluster, middle) as middle_errors:
            wait_for(lambda: lock_waiters(pg_cluster) == 1, 10, "middle session waiting")
            with waiting(pg_cluster, [f"UPDATE {TABLE} SET v = 3 WHERE id = 2"]) as tail_errors:
                wait_for(lambda: lock_waiters(pg_cluster) == 2, 10, "tail session waiting")
                result = collect(locks.SPEC, dsn)
                head.rollback()
        assert not middle_errors and not tail_errors
    assert result.value("pg_locks_blocked_sessions") == 2
    assert result.value("pg_locks_root_blockers") == 1
    assert result.value("pg_locks_blocking_chain_max_depth") == 2


def test_quiet_server_reads_zero(pg_cluster: Cluster) -> None:
    result = collect(locks.SPEC, pg_cluster.primary.dsn(user=MONITOR_ROLE))
    assert result.value("pg_locks_blocked_sessions") == 0
    assert result.value("pg_locks_blocking_chain_max_depth") == 0
    assert result.value("pg_locks_max_wait_seconds") == 0


def test_collecting_does_not_queue_behind_an_exclusive_lock(
    pg_cluster: Cluster, table: None
) -> None:
    with pg_cluster.primary.connect() as holder:
        holder.autocommit = False
        holder.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")  # type: ignore[arg-type]
        result = collect(locks.SPEC, pg_cluster.primary.dsn(user=MONITOR_ROLE), timeout=5)
        holder.rollback()
    assert (
        result.value("pg_locks_count", datname="postgres", mode="accessexclusivelock") or 0
    ) >= 1


def test_replica_is_read_the_same_way(pg_cluster: Cluster) -> None:
    result = collect(locks.SPEC, pg_cluster.replica.dsn(user=MONITOR_ROLE))
    assert result.value("pg_locks_blocked_sessions") == 0
    assert isinstance(psycopg.__version__, str)
