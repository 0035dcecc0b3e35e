"""archiver collector against real servers: the fixture does not archive; a throwaway server
with archive_mode on shows real failures, a backlog, then real successes."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator

import pytest
from psycopg import sql

from monitor.collectors.archiver import SPEC
from tests.collecting import Collected, collect, value
from tests.pgserver import MONITOR_ROLE, Cluster, Server, make_workdir


def monitor(server: Server) -> Collected:
    return collect(SPEC, server.dsn(user=MONITOR_ROLE))


def eventually(
    server: Server, accept: Callable[[Collected], bool], timeout: float = 30.0
) -> Collected:
    deadline = time.monotonic() + timeout
    while True:
        got = monitor(server)
        if accept(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached; last run: {got.families}")
        time.sleep(0.2)


@pytest.mark.parametrize("node", ["primary", "replica"])
def test_fixture_does_not_archive(pg_cluster: Cluster, node: str) -> None:
    got = monitor(getattr(pg_cluster, node))
    assert value(got, "pg_stat_archiver_archived_count") == 0
    assert value(got, "pg_stat_archiver_failed_count") == 0
    assert got.samples("pg_stat_archiver_last_archive_age") == []  # nothing archived, ever
    assert value(got, "pg_stat_archiver_last_failed_timestamp_seconds") == 0
    assert value(got, "pg_archiver_archive_mode", mode="off") == 1
    assert value(got, "pg_archiver_archive_mode", mode="on") == 0
    assert value(got, "pg_archiver_enabled") == 0
    assert value(got, "pg_archiver_pending_wal_files") == 0


@pytest.fixture
def archiving_server(pg_cluster: Cluster) -> Iterator[Server]:
    """A standalone server of the cluster's version whose archive_command fails at first."""
    workdir = make_workdir("pgmon-test-archiver-")
    server = Server(pg_cluster.installation, workdir / "archiving")
    try:
        server.init_primary()
        server.start()
        with server.connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(MONITOR_ROLE)))
            conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(MONITOR_ROLE)))
            conn.execute("ALTER SYSTEM SET archive_mode = 'on'")
            conn.execute("ALTER SYSTEM SET archive_command = 'false'")
        server.restart()  # archive_mode needs a restart
        yield server
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(workdir, ignore_errors=True)


def test_failures_backlog_then_success(archiving_server: Server) -> None:
    server = archiving_server
    started = time.time()
    assert value(monitor(server), "pg_archiver_enabled") == 1
    assert value(monitor(server), "pg_archiver_archive_mode", mode="on") == 1

    server.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g")
    server.execute("SELECT pg_switch_wal()")
    failing = eventually(server, lambda got: (got.value("pg_stat_archiver_failed_count") or 0) >= 1)
    assert value(failing, "pg_stat_archiver_archived_count") == 0
    assert value(failing, "pg_archiver_pending_wal_files") >= 1
    assert value(failing, "pg_stat_archiver_last_failed_timestamp_seconds") >= started - 5
    assert failing.samples("pg_stat_archiver_last_archive_age") == []

    server.execute("ALTER SYSTEM SET archive_command = 'true'")
    server.execute("SELECT pg_reload_conf()")
    done = eventually(
        server,
        lambda got: (
            (got.value("pg_stat_archiver_archived_count") or 0) >= 1
            and got.value("pg_archiver_pending_wal_files") == 0
        ),
        timeout=90,  # after failing, the archiver may sleep until woken by the reload
    )
    assert 0 <= value(done, "pg_stat_archiver_last_archive_age") < 90
    assert value(done, "pg_stat_archiver_failed_count") >= 1
