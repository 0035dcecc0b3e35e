"""Server findings on the real clusters: a database whose statistics were reset, a database
without pg_stat_statements, and a restart-only setting changed with ALTER SYSTEM (reset
afterwards whatever happens)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from monitor.collectors import server
from monitor.findings.model import Severity
from tests.collecting import collect, value
from tests.daemon import wait_for
from tests.findings import of_check, run_checks
from tests.pgserver import MONITOR_ROLE, Cluster
from tests.scratchdb import new_database


@pytest.fixture
def scratch(pg_cluster: Cluster) -> Iterator[str]:
    with new_database(pg_cluster.primary, "findings_server") as name:
        yield name


def test_stats_reset_of_a_database(pg_cluster: Cluster, scratch: str) -> None:
    target = {"primary": pg_cluster.primary.dsn(scratch, user=MONITOR_ROLE)}
    never = run_checks(target)
    # A new database's stats_reset is NULL: never reset, nothing to say.
    assert not [f for f in of_check(never.findings, "stats_reset_recent") if f.datname]
    pg_cluster.primary.execute("SELECT pg_stat_reset()", dbname=scratch)
    reset = run_checks(target)
    [found] = [f for f in of_check(reset.findings, "stats_reset_recent") if f.datname]
    assert (found.datname, found.object) == (scratch, "pg_stat_database")
    assert found.severity is Severity.INFO
    assert 0 <= found.evidence["collecting_seconds"] < 60
    assert "unused_index" in found.message
    assert not of_check(
        run_checks(target, {"stats_reset_recent": {"max_age_seconds": 0}}).findings,
        "stats_reset_recent",
    )


def test_database_without_pg_stat_statements(pg_cluster: Cluster, scratch: str) -> None:
    missing = run_checks({"primary": pg_cluster.primary.dsn(scratch, user=MONITOR_ROLE)})
    [found] = of_check(missing.findings, "pg_stat_statements_missing")
    assert found.severity is Severity.INFO and found.datname == scratch
    assert found.remediation == "CREATE EXTENSION pg_stat_statements;"
    assert found.rollback == "DROP EXTENSION pg_stat_statements;"
    present = run_checks({"primary": pg_cluster.primary.dsn(user=MONITOR_ROLE)})
    assert not of_check(present.findings, "pg_stat_statements_missing")


def pending(pg_cluster: Cluster) -> list[str]:
    rows = pg_cluster.primary.execute("SELECT name FROM pg_settings WHERE pending_restart")
    return [row[0] for row in rows]


@contextmanager
def restart_pending(pg_cluster: Cluster) -> Iterator[None]:
    """max_connections changed and reloaded on the primary; reset and reloaded at the end."""
    primary = pg_cluster.primary
    try:
        primary.execute("ALTER SYSTEM SET max_connections = 51")
        primary.execute("SELECT pg_reload_conf()")
        wait_for(lambda: pending(pg_cluster) == ["max_connections"], 10, "pending restart")
        yield
    finally:
        primary.execute("ALTER SYSTEM RESET max_connections")
        primary.execute("SELECT pg_reload_conf()")
        wait_for(lambda: pending(pg_cluster) == [], 10, "nothing pending")


def test_settings_pending_restart(pg_cluster: Cluster) -> None:
    dsn = {"primary": pg_cluster.primary.dsn(user=MONITOR_ROLE)}
    assert not of_check(run_checks(dsn).findings, "settings_pending_restart")
    with restart_pending(pg_cluster):
        result = run_checks(dsn)
    [found] = of_check(result.findings, "settings_pending_restart")
    assert found.severity is Severity.WARNING and found.target == "primary"
    assert found.evidence["settings"] == ["max_connections"]
    assert found.evidence["values_in_effect"] == {"max_connections": "50"}
    assert found.remediation.startswith("-- Restart the server") and found.rollback == ""
    assert not of_check(run_checks(dsn).findings, "settings_pending_restart")


def test_pending_settings_are_read_again_after_a_reload(pg_cluster: Cluster) -> None:
    """The server collector reads pg_settings only when the configuration was loaded again:
    a run with the state of the run before still sees a change made by a reload."""
    dsn = pg_cluster.primary.dsn(user=MONITOR_ROLE)
    state: dict[str, Any] = {}
    pending_settings = "pg_settings_pending_restart_settings"
    assert value(collect(server.SPEC, dsn, state=state), pending_settings) == 0
    with restart_pending(pg_cluster):
        assert value(collect(server.SPEC, dsn, state=state), pending_settings) == 1
    assert value(collect(server.SPEC, dsn, state=state), pending_settings) == 0
