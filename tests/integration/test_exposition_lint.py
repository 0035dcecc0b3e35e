"""What Prometheus's own linter says about a real exposition."""

from __future__ import annotations

import shutil
import subprocess

from monitor.catalog import entries
from tests.daemon import run_cli
from tests.pgserver import MONITOR_ROLE, Cluster

# postgres_exporter's names that predate the naming conventions; kept for compatibility.
EXPORTER_COUNT_NAMES = {
    "pg_locks_count",
    "pg_stat_activity_count",
    "pg_stat_archiver_archived_count",
    "pg_stat_archiver_failed_count",
}


def test_promtool_accepts_the_exposition(pg_cluster: Cluster) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run tests/install-deps.sh"
    result = run_cli("collect", "--dsn", pg_cluster.primary.dsn(user=MONITOR_ROLE))
    assert result.returncode == 0, result.stderr
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=result.stdout, capture_output=True, text=True
    )
    compat_counters = {
        e.metric.name
        for e in entries()
        if e.metric.kind == "counter" and not e.metric.name.endswith("_total")
    }
    complaints = [line for line in (lint.stdout + lint.stderr).splitlines() if line.strip()]
    assert complaints, "expected the known postgres_exporter-compatible names to be flagged"
    for line in complaints:
        name = line.split()[0]
        if 'should have "_total" suffix' in line:
            assert name in compat_counters, line
        elif 'should not have "_count" suffix' in line:
            assert name in EXPORTER_COUNT_NAMES, line
        else:
            raise AssertionError(f"promtool: {line}")
