"""`pgmon check`, /findings and the finding metrics, against real servers."""

from __future__ import annotations

import json

from monitor.findings.checks import all_checks
from tests.daemon import Daemon, free_port, run_cli, value, wait_for
from tests.pgserver import MONITOR_ROLE, Cluster

KEYS = {
    "check", "severity", "target", "datname", "object", "message",
    "evidence", "remediation", "rollback",
}  # fmt: skip


def test_unreachable_target_exits_3() -> None:
    dead = f"host=127.0.0.1 port={free_port()} dbname=postgres user=pgmon connect_timeout=1"
    result = run_cli("check", "--dsn", dead)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "UNREACHABLE" in result.stdout


def test_json_is_a_list_of_findings(pg_cluster: Cluster) -> None:
    dsn = pg_cluster.primary.dsn(user=MONITOR_ROLE)
    result = run_cli("check", "--format", "json", "--dsn", dsn)
    assert result.returncode in (0, 1, 2), result.stderr
    findings = json.loads(result.stdout)
    assert isinstance(findings, list)
    for finding in findings:
        assert set(finding) == KEYS
        assert finding["severity"] in ("info", "warning", "critical")
    worst = max((("info", "warning", "critical").index(f["severity"]) for f in findings), default=0)
    assert result.returncode == worst


def test_daemon_serves_findings_and_their_counts(pg_cluster: Cluster) -> None:
    config = {
        "targets": [{"name": "p", "dsn": pg_cluster.primary.dsn(user=MONITOR_ROLE)}],
        "findings": {"interval": "1s"},
    }
    with Daemon(config) as daemon:
        daemon.wait_ready()
        status, headers, body = daemon.get("/findings")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert isinstance(json.loads(body), list)
        wait_for(
            lambda: value(
                daemon.scrape(), "pgmon_findings_last_evaluation_timestamp_seconds", target="p"
            ),
            10,
            "a first evaluation",
        )
        series = daemon.scrape()
        for check in all_checks():
            for severity in ("info", "warning", "critical"):
                count = value(
                    series, "pgmon_findings", target="p", check=check.id, severity=severity
                )
                assert count is not None, (check.id, severity)


def _keys(findings: list[dict[str, object]]) -> set[tuple[object, ...]]:
    return {(f["check"], f["severity"], f["target"], f["datname"], f["object"]) for f in findings}


def test_findings_follow_the_problem_and_match_check(pg_cluster: Cluster) -> None:
    fast = {"interval": "1s", "timeout": "1s"}
    config = {
        "targets": [{"name": "p", "dsn": pg_cluster.primary.dsn(user=MONITOR_ROLE)}],
        "collectors": {"sessions": fast, "connections": fast},
        "findings": {
            "interval": "1s",
            "thresholds": {"idle_in_transaction": {"warning_seconds": 1, "critical_seconds": 3600}},
        },
    }
    idle_warnings = {"check": "idle_in_transaction", "severity": "warning", "target": "p"}
    with Daemon(config) as daemon:
        daemon.wait_ready()
        with pg_cluster.primary.connect() as idle:
            idle.autocommit = False
            idle.execute("SELECT 1")
            wait_for(
                lambda: (value(daemon.scrape(), "pgmon_findings", **idle_warnings) or 0) >= 1,
                20,
                "the idle-in-transaction finding",
            )
            series = daemon.scrape()
            assert value(series, "pgmon_finding", **idle_warnings, datname="postgres") == 1
            served = json.loads(daemon.get("/findings")[2])
            checked = run_cli("check", "--format", "json", "--config", str(daemon.config_path))
            idle.rollback()
        assert checked.returncode in (1, 2), checked.stderr
        ours = [f for f in served if f["check"] == "idle_in_transaction"]
        assert ours and all(f["remediation"] for f in ours)
        assert _keys(ours) == _keys(
            [f for f in json.loads(checked.stdout) if f["check"] == "idle_in_transaction"]
        )
        wait_for(
            lambda: value(daemon.scrape(), "pgmon_findings", **idle_warnings) == 0,
            20,
            "the finding to go away",
        )
        remaining = [
            name
            for (name, labels) in daemon.scrape()
            if name == "pgmon_finding" and ("check", "idle_in_transaction") in labels
        ]
        assert not remaining
        assert not [
            f for f in json.loads(daemon.get("/findings")[2]) if f["check"] == "idle_in_transaction"
        ]
