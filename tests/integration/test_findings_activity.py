"""Activity findings on real sessions: idle in transaction, long transactions (primary and
standby), a blocking chain of three, connection saturation; read by a pg_monitor-only role."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from monitor.findings.model import Finding, Severity
from tests.daemon import wait_for
from tests.findings import of_check, run_checks
from tests.pgserver import MONITOR_ROLE, Cluster, Server

TABLE = "pgmon_findings_activity"
LOW = {"warning_seconds": 0.5, "critical_seconds": 3600.0}


def by_pid(findings: list[Finding], check: str, pid: int) -> list[Finding]:
    return [f for f in of_check(findings, check) if f.evidence["pid"] == pid]


def primary_only(pg_cluster: Cluster) -> dict[str, str]:
    return {"primary": pg_cluster.primary.dsn(user=MONITOR_ROLE)}


@contextmanager
def open_transaction(server: Server, *statements: str) -> Iterator[psycopg.Connection[Any]]:
    with server.connect() as conn:
        conn.autocommit = False
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]
        try:
            yield conn
        finally:
            conn.rollback()


@contextmanager
def running(server: Server, statements: list[str]) -> Iterator[int]:
    """Run `statements` in one transaction in a thread (they are expected to wait); yields
    the session's pid and ends it when the block ends."""
    conn = server.connect()
    conn.autocommit = False
    pid = conn.info.backend_pid

    def work() -> None:
        try:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]
        except psycopg.Error:
            pass  # cancelled or terminated at the end of the test
        finally:
            conn.rollback()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        yield pid
    finally:
        server.execute("SELECT pg_cancel_backend(%s)", [pid])
        thread.join(30)
        conn.close()


@pytest.fixture
def table(pg_cluster: Cluster) -> Iterator[None]:
    pg_cluster.primary.execute(f"CREATE TABLE {TABLE} (id int PRIMARY KEY, v int)")  # type: ignore[arg-type]
    pg_cluster.primary.execute(f"INSERT INTO {TABLE} VALUES (1, 0), (2, 0)")  # type: ignore[arg-type]
    yield
    pg_cluster.primary.execute(f"DROP TABLE {TABLE}")  # type: ignore[arg-type]


def test_idle_in_transaction_names_the_session_with_literals_masked(pg_cluster: Cluster) -> None:
    with open_transaction(pg_cluster.primary, "SELECT 'a secret' AS s") as idle:
        idle_pid = idle.info.backend_pid
        with pg_cluster.primary.connect() as outside:  # idle, but in no transaction
            outside.execute("SELECT 1")
            time.sleep(1.0)
            low = run_checks(primary_only(pg_cluster), {"idle_in_transaction": LOW})
            default = run_checks(primary_only(pg_cluster))
            outside_pid = outside.info.backend_pid
    [found] = by_pid(low.findings, "idle_in_transaction", idle_pid)
    assert found.severity is Severity.WARNING
    assert found.target == "primary" and found.datname == "postgres"
    assert found.object == f"pid {idle_pid}"
    assert found.evidence["user"] == "postgres"
    assert found.evidence["idle_seconds"] >= 1.0
    assert found.evidence["last_query"] == "SELECT '***' AS s"
    assert f"pid = {idle_pid} " in found.remediation
    assert "pg_terminate_backend" in found.remediation and found.rollback == ""
    assert not by_pid(low.findings, "idle_in_transaction", outside_pid)
    assert not by_pid(default.findings, "idle_in_transaction", idle_pid)


def test_long_running_transaction_on_the_primary(pg_cluster: Cluster) -> None:
    statements = ["SELECT pg_current_xact_id()", "SELECT pg_sleep(60)"]
    with running(pg_cluster.primary, statements) as pid:
        wait_for(
            lambda: pg_cluster.primary.scalar(
                "SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = %s", [pid]
            ),
            10,
            "the sleeping transaction",
        )
        time.sleep(1.0)
        low = run_checks(primary_only(pg_cluster), {"long_running_transaction": LOW})
        default = run_checks(primary_only(pg_cluster))
    [found] = by_pid(low.findings, "long_running_transaction", pid)
    assert found.severity is Severity.WARNING
    assert found.evidence["state"] == "active" and found.evidence["standby"] is False
    assert found.evidence["transaction_seconds"] >= 1.0
    assert "pg_cancel_backend" in found.remediation and "pg_terminate_backend" in found.remediation
    assert not by_pid(default.findings, "long_running_transaction", pid)


def test_long_running_transaction_on_the_standby(pg_cluster: Cluster) -> None:
    targets = {
        "primary": pg_cluster.primary.dsn(user=MONITOR_ROLE),
        "replica": pg_cluster.replica.dsn(user=MONITOR_ROLE),
    }
    with open_transaction(pg_cluster.replica, "SELECT count(*) FROM pg_class") as reader:
        pid = reader.info.backend_pid
        time.sleep(1.0)
        low = run_checks(targets, {"long_running_transaction": LOW})
    found = by_pid(low.findings, "long_running_transaction", pid)
    assert [f.target for f in found] == ["replica"]
    assert found[0].evidence["standby"] is True
    assert "hot_standby_feedback" in found[0].message


def test_blocked_chain_reports_its_head_once(pg_cluster: Cluster, table: None) -> None:
    primary = pg_cluster.primary
    with open_transaction(primary, f"UPDATE {TABLE} SET v = 1 WHERE id = 1") as head:
        head_pid = head.info.backend_pid
        middle = [
            f"UPDATE {TABLE} SET v = 2 WHERE id = 2",
            f"UPDATE {TABLE} SET v = 2 WHERE id = 1",
        ]
        with running(primary, middle) as middle_pid:
            wait_for(lambda: waiting(primary) == 1, 10, "middle session waiting")
            with running(primary, [f"UPDATE {TABLE} SET v = 3 WHERE id = 2"]):
                wait_for(lambda: waiting(primary) == 2, 10, "tail session waiting")
                time.sleep(1.0)
                low = run_checks(
                    primary_only(pg_cluster),
                    {"blocked_sessions": {"warning_seconds": 0.5, "critical_seconds": 3600}},
                )
                default = run_checks(primary_only(pg_cluster))
    found = of_check(low.findings, "blocked_sessions")
    assert [f.evidence["pid"] for f in found] == [head_pid]  # not the middle one
    assert middle_pid != head_pid
    [head_finding] = found
    assert head_finding.severity is Severity.WARNING
    assert head_finding.evidence["blocked_sessions"] == 2
    assert head_finding.evidence["direct_sessions"] == 1
    assert head_finding.evidence["blocking_seconds"] >= 1.0
    assert head_finding.evidence["state"] == "idle in transaction"
    assert "pg_terminate_backend" in head_finding.remediation
    assert head_finding.evidence["last_query"].startswith("UPDATE")
    assert not of_check(default.findings, "blocked_sessions")


def waiting(server: Server) -> int:
    return int(
        server.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    )


def test_connection_saturation(pg_cluster: Cluster) -> None:
    with pg_cluster.primary.connect(), pg_cluster.primary.connect():
        low = run_checks(
            primary_only(pg_cluster),
            {"connection_saturation": {"warning_ratio": 0.01, "critical_ratio": 0.99}},
        )
        default = run_checks(primary_only(pg_cluster))
    [found] = of_check(low.findings, "connection_saturation")
    assert found.severity is Severity.WARNING
    assert found.evidence["max_connections"] == 50  # the test clusters' setting
    assert found.evidence["used"] >= 3
    assert (
        found.evidence["available"]
        == 50
        - found.evidence["superuser_reserved_connections"]
        - (found.evidence["reserved_connections"])
    )
    assert not of_check(default.findings, "connection_saturation")
