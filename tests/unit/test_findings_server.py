"""Server checks: statistics resets, pg_stat_statements set-up, settings pending a restart."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from monitor.findings.checks import server
from monitor.findings.model import Cluster, Finding, Node, Severity

Reset = namedtuple("Reset", "view datname reset_seconds")
Available = namedtuple("Available", "datname schema extversion preload read_all_stats can_execute")
Setting = namedtuple("Setting", "name setting unit context")


def run(
    check: str, rows: dict[str, Sequence[Any]], standby: bool = False, **over: float
) -> list[Finding]:
    spec = next(c for c in server.CHECKS if c.id == check)
    cluster = Cluster((Node("db1", 170000, "42", standby, rows),))
    return list(spec.evaluate(cluster, {**spec.defaults(), **over}))


def test_recent_resets_only_and_null_is_never() -> None:
    rows = {
        "server_stats_reset": [
            Reset("pg_stat_database", "fresh", None),  # never reset
            Reset("pg_stat_database", "shop", 3600.0),
            Reset("pg_stat_database", "old", 3 * 86400.0),
            Reset("pg_stat_bgwriter", None, 60.0),
        ]
    }
    found = run("stats_reset_recent", rows)
    assert [(f.datname, f.object) for f in found] == [
        ("shop", "pg_stat_database"),
        ("", "pg_stat_bgwriter"),
    ]
    assert all(f.severity is Severity.INFO for f in found)
    assert "unused_index" in found[0].message
    assert found[0].evidence["collecting_seconds"] == 3600.0


def test_pg_stat_statements_not_preloaded_appends_to_the_list() -> None:
    row = Available("app", None, None, "auto_explain, pg_hint_plan", True, False)
    [found] = run("pg_stat_statements_missing", {"statements_available": [row]})
    assert found.severity is Severity.WARNING and found.datname == "app"
    assert (
        "ALTER SYSTEM SET shared_preload_libraries = 'auto_explain', 'pg_hint_plan', "
        "'pg_stat_statements';" in found.remediation
    )
    assert "CREATE EXTENSION pg_stat_statements;" in found.remediation
    assert found.rollback.startswith("DROP EXTENSION pg_stat_statements;")
    assert found.rollback.endswith(
        "ALTER SYSTEM SET shared_preload_libraries = 'auto_explain', 'pg_hint_plan';"
    )


def test_empty_preload_list_is_reset_on_rollback() -> None:
    row = Available("app", "public", "1.10", "", True, True)
    [found] = run("pg_stat_statements_missing", {"statements_available": [row]})
    assert "= 'pg_stat_statements';" in found.remediation
    assert "CREATE EXTENSION" not in found.remediation  # already created
    assert "ALTER SYSTEM RESET shared_preload_libraries;" in found.rollback


def test_extension_not_created_in_the_database() -> None:
    row = Available("app", None, None, "/usr/lib/pg_stat_statements.so", True, False)
    [found] = run("pg_stat_statements_missing", {"statements_available": [row]})
    assert found.severity is Severity.INFO
    assert (found.remediation, found.rollback) == (
        "CREATE EXTENSION pg_stat_statements;",
        "DROP EXTENSION pg_stat_statements;",
    )
    # A standby gets its extensions from the primary; a role that cannot read the setting
    # learns nothing about it.
    assert not run("pg_stat_statements_missing", {"statements_available": [row]}, standby=True)
    hidden = Available("app", "public", "1.10", None, True, True)
    assert not run("pg_stat_statements_missing", {"statements_available": [hidden]})


def test_settings_pending_restart_lists_them() -> None:
    rows = {
        "server_settings": [
            Setting("max_connections", "100", None, "postmaster"),
            Setting("shared_buffers", "16384", "8kB", "postmaster"),
        ]
    }
    [found] = run("settings_pending_restart", rows)
    assert found.severity is Severity.WARNING
    assert found.evidence["settings"] == ["max_connections", "shared_buffers"]
    assert "max_connections, shared_buffers" in found.message
    assert found.remediation.startswith("--") and found.rollback == ""
    assert not run("settings_pending_restart", {"server_settings": []})
