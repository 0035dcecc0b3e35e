"""database collector against a real server: a second database, a real deadlock between two
sessions, temp files from a sort that does not fit in work_mem, commits and rollbacks."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from monitor.collectors.base import UNCHANGED_MAX_AGE_SECONDS
from monitor.collectors.database import SIZE_MAX_AGE_SECONDS, SPEC, MeasuredSizes
from tests.collecting import WAL_POSITION, Collected, collect, value, without_wal
from tests.pgserver import MONITOR_ROLE, Cluster, Server
from tests.scratchdb import NO_AUTOVACUUM, new_database


def monitor(server: Server, user: str = MONITOR_ROLE) -> Collected:
    return collect(SPEC, server.dsn(user=user))


def grows(
    server: Server, metric: str, datname: str, before: Collected, by: float, timeout: float = 15.0
) -> float:
    """Wait for a counter to grow by `by`: backends hand their statistics over a little after
    a transaction ends (at the latest when they exit), not at once."""
    start = before.total(metric, datname=datname)
    deadline = time.monotonic() + timeout
    while True:
        now = monitor(server).total(metric, datname=datname)
        if now - start >= by or time.monotonic() > deadline:
            return now - start
        time.sleep(0.2)


@pytest.fixture
def second_db(pg_cluster: Cluster) -> Iterator[str]:
    with new_database(pg_cluster.primary, "pgmon_db") as name:
        yield name


def deadlock(server: Server, dbname: str) -> list[psycopg.Error]:
    """Two sessions each lock one row, then want the other's: a real deadlock, which the server
    breaks after deadlock_timeout (lowered here, it is superuser-settable) by failing one."""
    server.execute("CREATE TABLE pair (id int PRIMARY KEY, v int)", dbname=dbname)
    server.execute("INSERT INTO pair VALUES (1, 0), (2, 0)", dbname=dbname)
    errors: list[psycopg.Error] = []
    with server.connect(dbname) as first, server.connect(dbname) as second:
        for conn in (first, second):
            conn.execute("SET deadlock_timeout = '100ms'")
            conn.execute("BEGIN")
        first.execute("UPDATE pair SET v = 1 WHERE id = 1")
        second.execute("UPDATE pair SET v = 1 WHERE id = 2")

        def first_wants_row_2() -> None:
            try:
                first.execute("UPDATE pair SET v = 2 WHERE id = 2")
            except psycopg.errors.DeadlockDetected as exc:
                errors.append(exc)

        waiter = threading.Thread(target=first_wants_row_2)
        waiter.start()
        first_pid = first.info.backend_pid
        wait_until(
            lambda: server.scalar(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [first_pid]
            )
        )
        try:
            second.execute("UPDATE pair SET v = 2 WHERE id = 1")
        except psycopg.errors.DeadlockDetected as exc:
            errors.append(exc)
        waiter.join(timeout=30)
        for conn in (first, second):
            conn.execute("ROLLBACK")
    return errors


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_second_database_size_and_ages(pg_cluster: Cluster, second_db: str) -> None:
    got = monitor(pg_cluster.primary)
    assert value(got, "pg_database_size_bytes", datname=second_db) > 1_000_000
    assert value(got, "pg_database_size_bytes", datname="postgres") > 1_000_000
    # template0 refuses connections: skipped, as postgres_exporter does.
    assert got.value("pg_database_size_bytes", datname="template0") is None
    assert got.value("pg_database_wraparound_age_datfrozenxid_seconds", datname="template0") is None
    assert value(got, "pg_database_wraparound_age_datfrozenxid_seconds", datname="postgres") > 0
    assert value(got, "pg_database_wraparound_age_datminmxid_seconds", datname="postgres") >= 0
    assert value(got, "pg_database_connection_limit", datname=second_db) == -1
    assert value(got, "pg_settings_autovacuum_freeze_max_age") == 200_000_000
    assert value(got, "pg_settings_autovacuum_multixact_freeze_max_age") == 400_000_000
    # pg_stat_database has a row for it, and none for shared objects (NULL datname).
    assert (
        value(got, "pg_stat_database_xact_commit", datname=second_db, datid=datid(got, second_db))
        >= 0
    )
    assert all(labels["datname"] for labels, _ in got.samples("pg_stat_database_xact_commit"))


def datid(got: Collected, datname: str) -> str:
    for labels, _ in got.samples("pg_stat_database_numbackends"):
        if labels["datname"] == datname:
            return labels["datid"]
    raise AssertionError(f"no pg_stat_database row for {datname}")


def test_deadlock_is_counted(pg_cluster: Cluster, second_db: str) -> None:
    primary = pg_cluster.primary
    before = monitor(primary)
    errors = deadlock(primary, second_db)
    assert len(errors) == 1, errors
    assert grows(primary, "pg_stat_database_deadlocks", second_db, before, by=1) == 1


def test_temp_files_from_a_sort_that_spills(pg_cluster: Cluster, second_db: str) -> None:
    primary = pg_cluster.primary
    before = monitor(primary)
    with primary.connect(second_db) as conn:
        conn.execute("SET work_mem = '64kB'")
        conn.execute("SELECT g FROM generate_series(1, 200000) g ORDER BY g DESC").fetchall()
    assert grows(primary, "pg_stat_database_temp_files", second_db, before, by=1) >= 1
    assert grows(primary, "pg_stat_database_temp_bytes", second_db, before, by=100_000) >= 100_000


def test_commits_rollbacks_and_sessions(pg_cluster: Cluster, second_db: str) -> None:
    primary = pg_cluster.primary
    before = monitor(primary)
    for _ in range(3):
        with primary.connect(second_db) as conn:
            for end in ("COMMIT", "COMMIT", "ROLLBACK"):
                conn.execute("BEGIN")
                conn.execute("SELECT 1")
                conn.execute(end)
    assert grows(primary, "pg_stat_database_xact_commit", second_db, before, by=6) >= 6
    assert grows(primary, "pg_stat_database_xact_rollback", second_db, before, by=3) >= 3
    assert grows(primary, "pg_stat_database_sessions_total", second_db, before, by=3) >= 3
    after = monitor(primary)
    assert after.total("pg_stat_database_session_time_seconds_total", datname=second_db) > 0
    assert after.total("pg_stat_database_blks_hit", datname=second_db) > 0


def test_size_needs_connect_or_read_all_stats(pg_cluster: Cluster, second_db: str) -> None:
    """A role with neither CONNECT nor pg_read_all_stats gets everything but that size,
    instead of a failed run."""
    primary = pg_cluster.primary
    plain = f"pgmon_plain_{uuid.uuid4().hex[:8]}"
    primary.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(plain)))
    primary.execute(
        sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(second_db))
    )
    try:
        got = monitor(primary, user=plain)
        assert got.value("pg_database_size_bytes", datname=second_db) is None
        assert value(got, "pg_database_size_bytes", datname="postgres") > 0
        assert value(got, "pg_database_wraparound_age_datfrozenxid_seconds", datname=second_db) > 0
        # pg_monitor includes pg_read_all_stats, so the monitoring role still sees it.
        assert value(monitor(primary), "pg_database_size_bytes", datname=second_db) > 0
    finally:
        primary.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(plain)))


def test_standby(pg_cluster: Cluster) -> None:
    got = monitor(pg_cluster.replica)
    assert value(got, "pg_database_size_bytes", datname="postgres") > 0
    assert got.samples("pg_stat_database_conflicts")


def test_sizes_are_measured_again_after_5_minutes_of_wal(
    pg_cluster: Cluster, second_db: str
) -> None:
    """Between measurements a run repeats the last sizes; a database new since then is
    measured at once, all are measured again once 5 minutes have passed and WAL was
    written, and a dropped one leaves no series."""
    primary = pg_cluster.primary
    state: dict[str, object] = {}
    dsn = primary.dsn(user=MONITOR_ROLE)
    size = "pg_database_size_bytes"
    first = value(collect(SPEC, dsn, state=state), size, datname=second_db)
    # Autovacuum off: its visit would add the table's free space and visibility maps,
    # growing the database between the two readings compared below.
    primary.execute(
        f"CREATE TABLE filler {NO_AUTOVACUUM} AS "
        "SELECT repeat('x', 500) FROM generate_series(1, 20000)",
        dbname=second_db,
    )
    primary.execute("CHECKPOINT")
    grown = primary.scalar("SELECT pg_database_size(current_database())", dbname=second_db)
    assert grown > first
    with new_database(primary, "pgmon_db_new") as newer:
        again = collect(SPEC, dsn, state=state)
        assert value(again, size, datname=second_db) == first  # measured under 5 minutes ago
        assert value(again, size, datname=newer) > 1_000_000
    older(state, SIZE_MAX_AGE_SECONDS)
    later = collect(SPEC, dsn, state=state)
    assert value(later, size, datname=second_db) == grown
    assert later.value(size, datname=newer) is None


def measured_sizes(state: dict[str, object]) -> MeasuredSizes:
    measured = state["measured_sizes"]
    assert isinstance(measured, MeasuredSizes)
    return measured


def older(state: dict[str, object], seconds: float) -> MeasuredSizes:
    """The collector's last measurement made `seconds` earlier than it was."""
    measured = measured_sizes(state)
    measured.at -= seconds
    return measured


def test_idle_database_sizes_are_measured_every_15_minutes(
    pg_cluster: Cluster, second_db: str
) -> None:
    """After 5 minutes the databases are measured again when WAL was written, wherever;
    otherwise the last sizes stand for 15 minutes. A file dropped into the database's
    directory changes its size without WAL, so it shows whether a run measured."""
    primary = pg_cluster.primary
    state: dict[str, object] = {}
    dsn = primary.dsn(user=MONITOR_ROLE)
    size = "pg_database_size_bytes"
    before = value(collect(SPEC, dsn, state=state), size, datname=second_db)
    oid = primary.scalar("SELECT oid FROM pg_database WHERE datname = %s", (second_db,))
    junk = primary.datadir / "base" / str(oid) / "pgmon_test_junk"
    junk.write_bytes(b"\0" * 3_000_000)

    def actual() -> int:
        return int(primary.scalar("SELECT pg_database_size(%s)", (second_db,)))

    def idle_run(position: str) -> tuple[float, float]:
        """A run 5 minutes after the last measurement, with no WAL written since."""
        measured = older(state, SIZE_MAX_AGE_SECONDS)
        measured.wal_lsn = position
        return measured.at, value(collect(SPEC, dsn, state=state), size, datname=second_db)

    try:
        at, idle = without_wal(primary.scalar, idle_run)
        assert measured_sizes(state).at == at  # not measured: the last sizes stand
        assert idle == before
        primary.execute("CREATE TABLE wal_elsewhere ()")  # WAL, in another database
        try:
            written = value(collect(SPEC, dsn, state=state), size, datname=second_db)
        finally:
            primary.execute("DROP TABLE wal_elsewhere")
        assert written == actual() > before  # the file counted
        junk.write_bytes(b"\0" * 5_000_000)
        older(state, UNCHANGED_MAX_AGE_SECONDS).wal_lsn = primary.scalar(WAL_POSITION)
        assert value(collect(SPEC, dsn, state=state), size, datname=second_db) == actual()
    finally:
        junk.unlink()
