"""Faults of the servers pgmon watches, with `pgmon run` as a real process: a target down at
start-up, a wrong password, shutdowns in the middle of a collection, SIGTERM while a query
runs, a backend that stops answering (also at SIGTERM), a database dropped while it is
watched.

After each: the daemon is alive and serves /metrics, pg_up and pgmon's own metrics say what
happened, the sessions pgmon holds (pg_stat_activity, by application_name) are back to one
per database, and everything recovered without a restart of the daemon. A plain outage and
recovery is in test_daemon.py (test_target_outage_and_recovery).

The destructive cases stop and start a primary of their own, shared by this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from psycopg import sql

from tests.daemon import Daemon, Series, value, wait_for
from tests.faults import (
    ServerLog,
    all_up,
    collector_values,
    every_collector,
    frozen,
    pgmon_backends,
    pgmon_lock_waiters,
    pgmon_sessions,
    sequence_altered,
    with_datname,
)
from tests.pgserver import (
    MONITOR_ROLE,
    PASSWORD_ROLE,
    PASSWORD_ROLE_PASSWORD,
    Cluster,
    Server,
    primary_alone,
)
from tests.scratchdb import new_database

# What is tested here is the daemon's own behaviour, the same whatever the server's major:
# one is enough, and keeps the suite short.
pytestmark = pytest.mark.pg(">=18")

# Outages are noticed within a second or two, not after the default minute of backoff.
QUICK_RECOVERY = {"reconnect_backoff_max": "1s", "connect_timeout": "2s"}
# A lock wait that only the server's shutdown (or the daemon's) can end: the sequences
# collector then stays in the middle of its statement for as long as the test needs.
STUCK_ON_LOCKS = {"lock_timeout": "60s", "statement_timeout": "60s"}
SLOW_SEQUENCES = {"interval": "30s", "timeout": "30s"}
HELD_SEQUENCE = "pgmon_fault_seq"


@pytest.fixture(scope="module")
def lone(pg_cluster: Cluster) -> Iterator[Cluster]:
    """A primary of this module's own: stopping it does not disturb the shared cluster."""
    with primary_alone(pg_cluster.installation) as cluster:
        yield cluster


@pytest.fixture
def server(lone: Cluster) -> Iterator[Server]:
    """The module's primary, running again after each test whatever the test did to it."""
    yield lone.primary
    lone.primary.start()


def monitor_dsn(server: Server, dbname: str = "postgres") -> str:
    return server.dsn(dbname, user=MONITOR_ROLE)


def assert_back_to_normal(daemon: Daemon, server: Server, target: str) -> None:
    """pg_up 1, every collector succeeding, one session per database and no more."""
    wait_for(lambda: value(daemon.scrape(), "pg_up", target=target) == 1, 30, "pg_up 1")
    wait_for(lambda: all_up(daemon.scrape(), target), 30, "every collector to succeed again")
    wait_for(lambda: pgmon_sessions(server) == {"postgres": 1}, 10, "one session, on postgres")
    assert value(daemon.scrape(), "pgmon_connections_open") == 1
    assert daemon.proc.poll() is None


def test_unreachable_at_start_up_then_up(server: Server) -> None:
    """test_target_down_at_start_up_still_gets_ready (test_daemon.py) covers a target that
    never comes; this one comes later."""
    server.stop()
    config = {
        "targets": [{"name": "late", "dsn": monitor_dsn(server)}],
        "collectors": every_collector(),
        **QUICK_RECOVERY,
    }
    with Daemon(config) as daemon:
        daemon.wait_ready()
        series = daemon.scrape()
        assert value(series, "pg_up", target="late") == 0
        assert set(collector_values(series, "pgmon_collector_up", "late").values()) == {0}
        # A target that is down is not a collector that cannot work there.
        assert set(collector_values(series, "pgmon_collector_available", "late").values()) == {1}
        errors = collector_values(series, "pgmon_collector_errors_total", "late")
        assert errors and min(errors.values()) >= 1, errors

        server.start()
        assert_back_to_normal(daemon, server, "late")
    assert daemon.proc.returncode == 0
    assert daemon.logs().count('"event": "target_up"') == 1


def test_wrong_password_then_fixed_without_restart(server: Server) -> None:
    """The role's password is changed to the one pgmon has: pgmon gets in by itself."""
    wrong = f"Wr0ng-{uuid.uuid4().hex}"
    config = {
        "targets": [{"name": "pw", "dsn": server.dsn(user=PASSWORD_ROLE, password=wrong)}],
        "collectors": every_collector(),
        **QUICK_RECOVERY,
    }
    log = ServerLog(server)
    with Daemon(config) as daemon:
        daemon.wait_ready()
        # A few seconds of 1 s runs, every one of which fails.
        wait_for(
            lambda: (
                sum(
                    collector_values(daemon.scrape(), "pgmon_collector_errors_total", "pw").values()
                )
                >= 40
            ),
            30,
            "forty failed runs",
        )
        series = daemon.scrape()
        assert value(series, "pg_up", target="pw") == 0
        assert set(collector_values(series, "pgmon_collector_up", "pw").values()) == {0}
        assert set(collector_values(series, "pgmon_collector_available", "pw").values()) == {1}
        assert pgmon_sessions(server) == {}
        failed_runs = sum(collector_values(series, "pgmon_collector_errors_total", "pw").values())
        # Runs share the target's reconnection backoff: far fewer attempts than failed runs.
        attempts = log.lines("password authentication failed", user=PASSWORD_ROLE)
        assert 1 <= len(attempts) <= failed_runs / 4, (len(attempts), failed_runs)

        server.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(PASSWORD_ROLE), sql.Literal(wrong)
            )
        )
        try:
            assert_back_to_normal(daemon, server, "pw")
        finally:
            server.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(PASSWORD_ROLE), sql.Literal(PASSWORD_ROLE_PASSWORD)
                )
            )
    assert daemon.proc.returncode == 0
    logs = daemon.logs()
    assert logs.count('"event": "target_down"') == 1
    assert wrong not in logs


@contextmanager
def stuck_in_sequences(server: Server, target: str) -> Iterator[Daemon]:
    """A daemon whose sequences collector waits for a lock, all others collecting."""
    config = {
        "targets": [{"name": target, "dsn": monitor_dsn(server)}],
        "collectors": {**every_collector(), "sequences": SLOW_SEQUENCES},
        **STUCK_ON_LOCKS,
        **QUICK_RECOVERY,
    }
    with sequence_altered(server, "postgres", HELD_SEQUENCE), Daemon(config) as daemon:
        wait_for(lambda: pgmon_lock_waiters(server), 20, "pgmon's sequences run to wait")
        wait_for(
            lambda: value(daemon.scrape(), "pgmon_collector_up", collector="locks") == 1,
            20,
            "the others to collect",
        )
        assert daemon.get("/readyz")[0] == 503  # the stuck run has not ended yet
        yield daemon


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_shutdown_in_the_middle_of_a_collection(server: Server, mode: str) -> None:
    with stuck_in_sequences(server, "restarted") as daemon:
        server.stop(mode=mode)
        wait_for(lambda: value(daemon.scrape(), "pg_up", target="restarted") == 0, 20, "pg_up 0")
        series = wait_for(
            lambda: (
                (s := daemon.scrape())
                and (value(s, "pgmon_collector_errors_total", collector="sequences") or 0) >= 1
                and s
            ),
            20,
            "the interrupted run to count as failed",
        )
        assert value(series, "pgmon_collector_up", collector="sequences") == 0
        assert value(series, "pgmon_collector_available", collector="sequences") == 1
        assert value(series, "pgmon_connections_open") == 0
        assert daemon.get("/healthz")[0] == 200

        server.start()
        assert_back_to_normal(daemon, server, "restarted")
        # The sequence the interrupted run waited for is measured now.
        series = daemon.scrape()
        assert value(series, "pg_sequences_max_used_ratio", datname="postgres") is not None
        assert value(series, "pg_sequences_unreadable", datname="postgres") == 0
    assert daemon.proc.returncode == 0


def test_sigterm_while_a_query_runs(server: Server) -> None:
    """The running query is cancelled, every session closed, and the exit status is 0."""
    with stuck_in_sequences(server, "stopped") as daemon:
        assert daemon.stop() == 0
        wait_for(lambda: not pgmon_sessions(server), 10, "pgmon's sessions to close")
    logs = daemon.logs()
    assert '"event": "stopping"' in logs and '"event": "stopped"' in logs


def test_backend_that_stops_answering(server: Server) -> None:
    """statement_timeout cannot end a statement in a backend that stopped: pgmon shuts the
    session down past the run's timeouts, reports the failure, and opens a new session."""
    config = {
        "targets": [{"name": "frozen", "dsn": monitor_dsn(server)}],
        "collectors": every_collector(),
        **QUICK_RECOVERY,
    }
    with Daemon(config) as daemon:
        daemon.wait_ready()
        wait_for(lambda: all_up(daemon.scrape(), "frozen"), 20, "every collector to succeed")
        [stuck] = pgmon_backends(server)
        with frozen(stuck):
            wait_for(lambda: value(daemon.scrape(), "pg_up", target="frozen") == 0, 20, "pg_up 0")
            wait_for(lambda: pgmon_backends(server) - {stuck}, 20, "a new session")
            wait_for(lambda: all_up(daemon.scrape(), "frozen"), 20, "every collector again")
            series = daemon.scrape()
            assert value(series, "pg_up", target="frozen") == 1
            errors = collector_values(series, "pgmon_collector_errors_total", "frozen")
            assert sum(errors.values()) >= 1
        # Woken up, the stopped backend finds its connection closed and goes.
        wait_for(lambda: stuck not in pgmon_backends(server), 10, "the stopped backend to go")
        assert_back_to_normal(daemon, server, "frozen")
    assert daemon.proc.returncode == 0
    assert "the server stopped answering" in daemon.logs()


def test_sigterm_while_the_server_does_not_answer(server: Server) -> None:
    """Not even the cancel request is answered: the session is shut down, and the daemon
    exits with status 0 instead of waiting for the server."""
    with stuck_in_sequences(server, "stopped") as daemon:
        [stuck] = pgmon_lock_waiters(server)
        with frozen(stuck):
            assert daemon.stop() == 0
        wait_for(lambda: not pgmon_sessions(server), 10, "pgmon's sessions to close")


PER_DATABASE = ("indexes", "index_catalog", "tables", "sequences", "vacuum", "bloat")


def test_database_dropped_while_watched(pg_cluster: Cluster) -> None:
    """Dropped WITH (FORCE) while the sequences collector is in the middle of a statement
    there: the per-database collectors drop its series and findings, and stop failing."""
    primary = pg_cluster.primary
    with (
        new_database(primary, "pgmon_fault_dropped") as dropped,
        new_database(primary, "pgmon_fault_kept") as kept,
    ):
        for name in (kept, dropped):
            primary.execute(
                "CREATE TABLE t (id serial PRIMARY KEY, v int);"
                "CREATE INDEX t_v ON t (v);"
                "INSERT INTO t (v) SELECT generate_series(1, 100);"
                "ANALYZE t",
                dbname=name,
            )
        config = {
            "targets": [
                {
                    "name": "p",
                    "dsn": monitor_dsn(primary),
                    "databases": {"include": [kept, dropped]},
                }
            ],
            "collectors": {**every_collector(), "sequences": {"interval": "3s", "timeout": "3s"}},
            "findings": {"interval": "1s", "thresholds": {"unused_index": {"min_size_bytes": 0}}},
            **STUCK_ON_LOCKS,
        }
        with sequence_altered(primary, dropped, HELD_SEQUENCE), Daemon(config) as daemon:
            daemon.wait_ready()
            for name in (kept, dropped):
                wait_for(
                    lambda name=name: (
                        "pg_stat_user_tables_n_live_tup" in with_datname(daemon.scrape(), name)
                    ),
                    10,
                    f"the tables of {name}",
                )
            wait_for(lambda: dropped in daemon.get("/findings")[2].decode(), 10, "its findings")
            assert pgmon_sessions(primary).get(dropped) == 1
            wait_for(lambda: pgmon_lock_waiters(primary), 10, "a run in the middle of a statement")

            primary.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dropped))
            )
            wait_for(lambda: not with_datname(daemon.scrape(), dropped), 20, "its series to go")
            wait_for(lambda: all_up(daemon.scrape(), "p"), 20, "every collector to succeed")
            series = daemon.scrape()
            errors = collector_values(series, "pgmon_collector_errors_total", "p")
            assert errors["sequences"] >= 1
            last = collector_values(series, "pgmon_collector_last_success_timestamp_seconds", "p")

            def ran_again(series: Series) -> bool:
                now = collector_values(
                    series, "pgmon_collector_last_success_timestamp_seconds", "p"
                )
                return all(now[name] > last[name] + 1 for name in PER_DATABASE)

            series = wait_for(
                lambda: (s := daemon.scrape()) and ran_again(s) and s,
                20,
                "more runs of the per-database collectors",
            )
            assert collector_values(series, "pgmon_collector_errors_total", "p") == errors
            assert all_up(series, "p")
            assert "pg_stat_user_tables_n_live_tup" in with_datname(series, kept)
            findings = daemon.get("/findings")[2].decode()
            assert dropped not in findings and kept in findings
            sessions = pgmon_sessions(primary)
            assert dropped not in sessions
            assert sessions.get(kept) == 1
            assert value(series, "pgmon_connections_open") == sum(sessions.values())
    # Only the dropped database failed (its session, held by the stuck run, was not to be
    # had by the others; then it was gone), and each collector said so when its error
    # changed, not at every run.
    failures = [line for line in daemon.logs().splitlines() if "collector_failed" in line]
    assert all(dropped in line for line in failures), "\n".join(failures)
    for name in PER_DATABASE:
        assert sum(f'"collector": "{name}"' in line for line in failures) <= 2, "\n".join(failures)
