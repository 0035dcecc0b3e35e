"""Activity checks: rows as the sessions and connections collectors keep them, findings out."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from monitor.findings.checks import activity
from monitor.findings.model import Cluster, Finding, Node, Severity

Session = namedtuple(
    "Session",
    "pid usename application_name client_addr datname state xact_seconds state_seconds "
    "xmin_age query",
)
Blocker = namedtuple(
    "Blocker",
    "pid usename application_name client_addr datname state direct_sessions blocked_sessions "
    "blocking_seconds xact_seconds query",
)
Limits = namedtuple("Limits", "max_connections superuser_reserved reserved used")

DEFAULTS = {check.id: check.defaults() for check in activity.CHECKS}


def cluster(rows: dict[str, Sequence[Any]], standby: bool = False) -> Cluster:
    return Cluster((Node("db1", 170000, "42", standby, rows),))


def run(
    check: str, rows: dict[str, Sequence[Any]], standby: bool = False, **over: float
) -> list[Finding]:
    spec = next(c for c in activity.CHECKS if c.id == check)
    return list(spec.evaluate(cluster(rows, standby), {**DEFAULTS[check], **over}))


def session(state: str, xact: float, idle: float, pid: int = 101) -> Session:
    return Session(
        pid, "app", "billing", "10.0.0.7", "shop", state, xact, idle, 1234, "SELECT '***'"
    )


def test_idle_in_transaction_severity_follows_the_idle_time() -> None:
    rows = {
        "sessions": [
            session("idle in transaction", 900, 700, pid=1),
            session("idle in transaction (aborted)", 100, 90, pid=2),
            session("idle in transaction", 100, 30, pid=3),
            session("active", 5000, 5000, pid=4),  # long, but not idle
        ]
    }
    found = {f.evidence["pid"]: f for f in run("idle_in_transaction", rows)}
    assert {pid: f.severity for pid, f in found.items()} == {
        1: Severity.CRITICAL,
        2: Severity.WARNING,
    }
    first = found[1]
    assert (first.target, first.datname, first.object) == ("db1", "shop", "pid 1")
    assert first.evidence["user"] == "app" and first.evidence["client_addr"] == "10.0.0.7"
    assert first.evidence["last_query"] == "SELECT '***'"
    assert "pg_terminate_backend(pid)" in first.remediation
    assert "WHERE pid = 1 AND state IN" in first.remediation
    assert "interval '700 seconds'" in first.remediation
    assert "idle_in_transaction_session_timeout" in first.remediation
    assert first.rollback == ""


def test_long_running_transaction_everywhere_including_standbys() -> None:
    rows = {"sessions": [session("active", 4000, 4000), session("active", 10, 10, pid=5)]}
    [found] = run("long_running_transaction", rows, standby=True)
    assert found.severity is Severity.CRITICAL and found.evidence["standby"] is True
    assert "hot_standby_feedback" in found.message
    assert "pg_cancel_backend" in found.remediation
    assert "-- SELECT pg_terminate_backend" in found.remediation
    assert not run("long_running_transaction", rows, critical_seconds=1e9, warning_seconds=1e9)


def blocker(pid: int, state: str, blocked: int, waited: float) -> Blocker:
    return Blocker(pid, "etl", "loader", None, "shop", state, 1, blocked, waited, 400.0, "LOCK t")


def test_blocked_sessions_thresholds_and_counts() -> None:
    rows = {
        "sessions_blocking": [
            blocker(7, "idle in transaction", 3, 40),
            blocker(8, "active", 12, 31),
            blocker(9, "active", 5, 10),  # short wait: ordinary contention
            blocker(0, None, 2, 600),  # a prepared transaction
        ]
    }
    found = {f.evidence["pid"]: f for f in run("blocked_sessions", rows)}
    assert {pid: f.severity for pid, f in found.items()} == {
        7: Severity.WARNING,
        8: Severity.CRITICAL,  # blocks critical_blocked_sessions or more
        0: Severity.CRITICAL,
    }
    assert "pg_cancel_backend" not in found[7].remediation  # idle: only terminate helps
    assert "pg_terminate_backend" in found[7].remediation
    assert found[8].remediation.splitlines()[1].startswith("SELECT pg_cancel_backend(pid)")
    assert "ROLLBACK PREPARED" in found[0].remediation
    assert "blocks 3 session(s) (1 directly)" in found[7].message
    assert not run("blocked_sessions", rows, min_blocked_sessions=100)


def test_connection_saturation_counts_only_connections_open_to_ordinary_roles() -> None:
    # 100 - 3 - 7 = 90 available; 80 used is 0.89.
    [found] = run("connection_saturation", {"connections_limits": [Limits(100, 3, 7, 80)]})
    assert found.severity is Severity.WARNING
    assert found.evidence["available"] == 90 and found.evidence["ratio"] == round(80 / 90, 4)
    assert found.remediation.startswith("--") and found.rollback == ""
    [full] = run("connection_saturation", {"connections_limits": [Limits(100, 3, 7, 90)]})
    assert full.severity is Severity.CRITICAL
    assert not run("connection_saturation", {"connections_limits": [Limits(100, 3, 0, 50)]})
    # No connection left for ordinary roles at all: saturated, no division by zero.
    [none_left] = run("connection_saturation", {"connections_limits": [Limits(3, 3, 0, 1)]})
    assert none_left.severity is Severity.CRITICAL


def test_no_rows_no_findings() -> None:
    for check in activity.CHECKS:
        assert not list(check.evaluate(cluster({}), check.defaults()))
