"""What Prometheus's own linter says about a real exposition."""

from __future__ import annotations

from tests.daemon import lint, run_cli
from tests.pgserver import MONITOR_ROLE, Cluster


def test_promtool_accepts_the_exposition(pg_cluster: Cluster) -> None:
    result = run_cli("collect", "--dsn", pg_cluster.primary.dsn(user=MONITOR_ROLE))
    assert result.returncode == 0, result.stderr
    known, other = lint(result.stdout)
    assert known, "expected the known postgres_exporter-compatible names to be flagged"
    assert not other, "\n".join(other)
