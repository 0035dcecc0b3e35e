"""Locks and slow statements against `pgmon run`: an application's lock queue that pgmon must
neither join nor lengthen, and one collector's statement outliving its run's timeout while
the others carry on.

The single-collector versions (one run, timed) are in test_tables.py and test_indexes.py
(test_access_exclusive_lock_still_waiting, test_locked_index_does_not_make_the_collector_wait).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg import sql

from tests.daemon import Daemon, value, wait_for
from tests.faults import (
    ServerLog,
    all_up,
    collector_values,
    every_collector,
    pgmon_lock_waiters,
    pgmon_sessions,
    sequence_altered,
    with_datname,
)
from tests.pgserver import MONITOR_ROLE, Cluster, Server
from tests.scratchdb import NO_AUTOVACUUM, new_database

PER_DATABASE = ("indexes", "index_catalog", "tables", "sequences", "vacuum", "bloat")
LOCK_TIMEOUT = 0.1  # pgmon's default


@contextmanager
def watching_role(server: Server) -> Iterator[str]:
    """A monitoring role of its own (pg_monitor and pg_read_all_data, so that every
    collector reads every table) whose sessions log any lock wait longer than 10 ms."""
    role = f"pgmon_locks_{uuid.uuid4().hex[:8]}"
    name = sql.Identifier(role)
    server.execute(
        sql.SQL("CREATE ROLE {} LOGIN IN ROLE pg_monitor, pg_read_all_data").format(name)
    )
    server.execute(sql.SQL("ALTER ROLE {} SET log_lock_waits = on").format(name))
    server.execute(sql.SQL("ALTER ROLE {} SET deadlock_timeout = '10ms'").format(name))
    try:
        yield role
    finally:
        server.execute(sql.SQL("DROP ROLE {}").format(name))


@contextmanager
def in_thread(server: Server, dbname: str, statement: str) -> Iterator[int]:
    """`statement` running (and blocked) in a session of its own; yields its backend's pid."""
    conn = server.connect(dbname)
    pid = conn.info.backend_pid
    errors: list[BaseException] = []

    def run() -> None:
        try:
            conn.execute(statement)  # type: ignore[arg-type]
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield pid
    finally:
        thread.join(30)
        conn.close()
    assert not thread.is_alive() and not errors, errors


def waiting(server: Server, pid: int) -> bool:
    return bool(
        server.scalar("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [pid])
    )


def test_lock_queue_is_neither_joined_nor_lengthened(pg_cluster: Cluster) -> None:
    """A long transaction reads `queued`; an ALTER TABLE waits for it, and a reader waits
    behind the ALTER TABLE. Every collector keeps collecting the database, and no pgmon
    session ever waits for a lock or holds one the queue waits for."""
    primary = pg_cluster.primary
    with new_database(primary, "pgmon_fault_queue") as dbname, watching_role(primary) as role:
        primary.execute(
            f"CREATE TABLE parent (id int PRIMARY KEY) {NO_AUTOVACUUM};"
            f"CREATE TABLE queued (id serial PRIMARY KEY, v int, p int REFERENCES parent) "
            f"{NO_AUTOVACUUM};"
            "CREATE INDEX queued_v ON queued (v);"
            "CREATE INDEX queued_v_again ON queued (v);"
            "INSERT INTO parent VALUES (1);"
            "INSERT INTO queued (v, p) SELECT g, 1 FROM generate_series(1, 1000) g;"
            "ANALYZE parent; ANALYZE queued",
            dbname=dbname,
        )
        log = ServerLog(primary)
        config = {
            "targets": [
                {
                    "name": "q",
                    "dsn": primary.dsn(dbname, user=role),
                    "databases": {"include": [dbname]},
                }
            ],
            "collectors": every_collector(),
            "findings": {"interval": "1s"},
        }
        with primary.connect(dbname) as holder:
            holder.autocommit = False
            holder.execute("SELECT count(*) FROM queued")
            holder_pid = holder.info.backend_pid
            with (
                in_thread(primary, dbname, "ALTER TABLE queued ADD COLUMN w int") as alter_pid,
                in_thread(primary, dbname, "SELECT count(*) FROM queued") as reader_pid,
            ):
                wait_for(lambda: waiting(primary, alter_pid), 10, "the ALTER TABLE to wait")
                wait_for(lambda: waiting(primary, reader_pid), 10, "the reader to wait")
                with Daemon(config) as daemon:
                    daemon.wait_ready()
                    started = time.time()
                    errors = collector_values(daemon.scrape(), "pgmon_collector_errors_total", "q")
                    pgmon_waits: list[Any] = []
                    blockers: set[int] = set()

                    def two_runs_each() -> bool:
                        pgmon_waits.extend(pgmon_lock_waiters(primary))
                        blockers.update(
                            primary.scalar("SELECT pg_blocking_pids(%s)", [alter_pid]),
                            primary.scalar("SELECT pg_blocking_pids(%s)", [reader_pid]),
                        )
                        last = collector_values(
                            daemon.scrape(), "pgmon_collector_last_success_timestamp_seconds", "q"
                        )
                        return all(last.get(name, 0) > started + 1 for name in PER_DATABASE)

                    wait_for(two_runs_each, 30, "two runs of every collector", every=0.02)
                    series = daemon.scrape()
                    findings = daemon.get("/findings")[2].decode()
                    sessions = pgmon_sessions(primary)
                assert waiting(primary, alter_pid) and waiting(primary, reader_pid)
                holder.rollback()

        assert not pgmon_waits, "pgmon joined the lock queue"
        assert sessions == {dbname: 1}
        # The ALTER TABLE waited for the long transaction only; the reader for both of them.
        assert blockers <= {holder_pid, alter_pid}, blockers
        lock_waits = log.lines("still waiting for|acquired .* after|lock timeout", user=role)
        assert not lock_waits, "\n".join(lock_waits)
        # Every collector still succeeded, and said what it could about the queued table.
        assert collector_values(series, "pgmon_collector_errors_total", "q") == errors
        assert all_up(series, "q")
        queued = {"datname": dbname, "schemaname": "public", "relname": "queued"}
        assert value(series, "pg_stat_user_tables_n_live_tup", **queued) == 1000
        assert (
            value(series, "pg_stat_user_indexes_scans_total", **queued, indexrelname="queued_v")
            == 0
        )
        assert '"check": "duplicate_index"' in findings and "queued_v" in findings


def test_statement_slower_than_its_run_timeout(pg_cluster: Cluster) -> None:
    """The sequences collector's statement in one database waits for a lock beyond the run's
    timeout (lock_timeout is raised for that: the lock stands in for any slow statement).
    The server cancels it at the run's timeout; the failure shows in pgmon's metrics; the
    other collectors, and the same collector in the other database, carry on."""
    primary = pg_cluster.primary
    with (
        new_database(primary, "pgmon_fault_slow") as slow,
        new_database(primary, "pgmon_fault_quick") as quick,
    ):
        primary.execute(
            f"CREATE TABLE t (id serial PRIMARY KEY) {NO_AUTOVACUUM};"
            "INSERT INTO t DEFAULT VALUES;"
            f"GRANT SELECT ON SEQUENCE t_id_seq TO {MONITOR_ROLE}",
            dbname=quick,
        )
        config = {
            "targets": [
                {
                    "name": "s",
                    "dsn": primary.dsn(user=MONITOR_ROLE),
                    "databases": {"include": [slow, quick]},
                }
            ],
            "collectors": {**every_collector(), "sequences": {"interval": "4s", "timeout": "3s"}},
            "lock_timeout": "60s",
            "statement_timeout": "60s",
        }
        log = ServerLog(primary)
        with sequence_altered(primary, slow, "pgmon_fault_seq") as holder, Daemon(config) as daemon:
            daemon.wait_ready()
            # The other database's sequences are still measured in a run that fails. Not in
            # every such run: when another collector holds its session at that moment, it
            # is visited after the slow one, whose statement takes what is left of the time.
            series = wait_for(
                lambda: (
                    (s := daemon.scrape())
                    and (value(s, "pgmon_collector_errors_total", collector="sequences") or 0) >= 2
                    and value(s, "pgmon_collector_up", collector="sequences") == 0
                    and value(s, "pg_sequences_max_used_ratio", datname=quick) is not None
                    and s
                ),
                40,
                "failed runs of the sequences collector that still measured the other database",
            )
            assert value(series, "pgmon_collector_available", collector="sequences") == 1
            assert value(series, "pg_sequences_max_used_ratio", datname=slow) is None
            up = collector_values(series, "pgmon_collector_up", "s")
            assert {name for name, v in up.items() if v != 1} <= {"sequences", *PER_DATABASE}
            assert "pg_stat_user_tables_n_live_tup" in with_datname(series, quick)
            # Not a wait for ever: the server ended each statement at the run's timeout.
            assert len(pgmon_lock_waiters(primary)) <= 1
            cancelled = log.lines("canceling statement due to statement timeout", MONITOR_ROLE)
            assert cancelled and all(f"@{slow} " in line for line in cancelled), cancelled

            holder.rollback()
            wait_for(
                lambda: value(daemon.scrape(), "pgmon_collector_up", collector="sequences") == 1,
                15,
                "the sequences collector to succeed again",
            )
            wait_for(lambda: all_up(daemon.scrape(), "s"), 10, "every collector to succeed")
            # The cancelled statements left no session behind.
            assert pgmon_sessions(primary) == {"postgres": 1, slow: 1, quick: 1}
        failures = [line for line in daemon.logs().splitlines() if "collector_failed" in line]
        sequences = [line for line in failures if '"collector": "sequences"' in line]
        assert sequences, failures
        assert "QueryCanceled: canceling statement due to statement timeout" in sequences[0]
        assert len(sequences) <= 2, "\n".join(sequences)  # once, not at every run
