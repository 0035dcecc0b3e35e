"""Bloat checks: rows in, findings out (no database)."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from monitor.collectors import bloat
from monitor.findings.checks.bloat import CHECKS
from monitor.findings.model import Cluster, Finding, Node, Severity
from tests.collecting import collected

TableRow = namedtuple(  # type: ignore[misc]
    "TableRow",
    "datname schemaname relname actual_bytes expected_bytes wasted_bytes reltuples row_width "
    "fillfactor last_analyzed now",
)
IndexRow = namedtuple(  # type: ignore[misc]
    "IndexRow",
    "datname schemaname relname indexrelname actual_bytes expected_bytes wasted_bytes "
    "reltuples key_width fillfactor last_analyzed now",
)

MIB = 1024.0**2
NOW = 1_800_000_000.0
SPECS = {check.id: check for check in CHECKS}


def table(actual_mib: float, expected_mib: float, **changes: Any) -> Any:
    actual, expected = actual_mib * MIB, expected_mib * MIB
    row = TableRow(
        "app", "public", "Orders", actual, expected, max(actual - expected, 0.0), 1e6, 120.0,
        100, NOW - 3600, NOW,
    )  # fmt: skip
    return row._replace(**changes)


def index(actual_mib: float, expected_mib: float, **changes: Any) -> Any:
    actual, expected = actual_mib * MIB, expected_mib * MIB
    row = IndexRow(
        "app", "public", "Orders", "orders_pkey", actual, expected, max(actual - expected, 0.0),
        1e6, 8.0, 90, None, NOW,
    )  # fmt: skip
    return row._replace(**changes)


def node(target: str = "primary", in_recovery: bool = False, **rows: list[Any]) -> Node:
    return Node(target, 170000, "7000", in_recovery, rows)


def run(check: str, *nodes: Node, **thresholds: float) -> list[Finding]:
    spec = SPECS[check]
    return list(spec.evaluate(Cluster(nodes), {**spec.defaults(), **thresholds}))


def test_table_bloat_severity_by_ratio() -> None:
    (warning,) = run("table_bloat", node(bloat_tables=[table(400, 150)]))  # 62% wasted
    assert warning.severity is Severity.WARNING
    assert warning.object == 'public."Orders"'
    assert warning.datname == "app"
    assert warning.evidence["wasted_bytes"] == 250 * MIB
    assert warning.evidence["wasted_ratio"] == 0.625
    assert warning.evidence["last_analyze_age_seconds"] == 3600
    assert "estimate" in warning.evidence
    assert "ACCESS EXCLUSIVE" in warning.remediation and "pg_repack" in warning.remediation
    assert warning.remediation.endswith('VACUUM (FULL, VERBOSE) public."Orders";')
    assert warning.rollback == ""
    (critical,) = run("table_bloat", node(bloat_tables=[table(1000, 100)]))  # 90%
    assert critical.severity is Severity.CRITICAL


def test_table_bloat_quiet_below_thresholds() -> None:
    assert run("table_bloat", node(bloat_tables=[table(400, 250)])) == []  # 37% wasted
    assert run("table_bloat", node(bloat_tables=[table(90, 5)])) == []  # under min size
    assert run("table_bloat", node(bloat_tables=[table(120, 80)])) == []  # 40 MiB wasted
    assert run("table_bloat", node(bloat_tables=[table(100, 200)])) == []  # no waste
    # lowered thresholds make the small table count
    (found,) = run(
        "table_bloat", node(bloat_tables=[table(90, 5)]), min_size_bytes=MIB, min_wasted_bytes=MIB
    )
    assert found.severity is Severity.CRITICAL


def test_once_per_cluster_on_the_primary_else_the_first_node() -> None:
    rows = [table(400, 150)]
    primary = node("primary", bloat_tables=rows)
    standby = node("standby", in_recovery=True, bloat_tables=rows)
    assert [f.target for f in run("table_bloat", standby, primary)] == ["primary"]
    assert [f.target for f in run("table_bloat", standby)] == ["standby"]
    assert run("table_bloat", node(bloat_indexes=[index(400, 10)])) == []  # other row set


def test_index_bloat() -> None:
    (found,) = run("index_bloat", node(bloat_indexes=[index(400, 10)]))
    assert found.severity is Severity.CRITICAL
    assert found.object == "public.orders_pkey"
    assert found.evidence["table"] == 'public."Orders"'
    assert found.evidence["last_analyze_age_seconds"] is None
    assert found.remediation == "REINDEX INDEX CONCURRENTLY public.orders_pkey;"
    assert found.rollback == ""
    (warning,) = run("index_bloat", node(bloat_indexes=[index(400, 150)]))
    assert warning.severity is Severity.WARNING
    assert run("index_bloat", node(bloat_indexes=[index(400, 300)])) == []
    assert run("index_bloat", node(bloat_indexes=[index(400, 300)]), warning_ratio=0.2) != []


def test_wasted_bytes_metric_sums_tables_and_indexes() -> None:
    samples = bloat.wasted_samples("app", [table(400, 150)], [index(30, 10)])
    assert collected(bloat.SPEC, samples).value(
        "pg_bloat_estimated_wasted_bytes", datname="app"
    ) == (270 * MIB)


def test_tables_hidden_from_the_role_are_not_evaluated_not_healthy() -> None:
    from collections import namedtuple

    from monitor.findings.checks import bloat as checks
    from monitor.findings.model import Cluster, Node, Severity

    Hidden = namedtuple("Hidden", "datname hidden_tables hidden_bytes monitor_role")
    spec = next(c for c in checks.CHECKS if c.id == "table_bloat")
    big = Node("p", 170000, "1", False, {"bloat_hidden": [Hidden("app", 3, 500 * 2**20, "pgmon")]})
    (found,) = spec.evaluate(Cluster((big,)), spec.defaults())
    assert found.severity is Severity.INFO
    assert found.message.startswith("not evaluated")
    assert found.evidence["hidden_tables"] == 3
    small = Node("p", 170000, "1", False, {"bloat_hidden": [Hidden("app", 3, 2**20, "pgmon")]})
    assert not list(spec.evaluate(Cluster((small,)), spec.defaults()))
