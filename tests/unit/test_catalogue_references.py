"""Every metric that a dashboard panel or a rule reads is one pgmon exports (or a rule
records): a renamed metric breaks the build, not the user's dashboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.catalog import entries
from tests.promql import (
    DASHBOARDS,
    Query,
    dashboard_queries,
    recorded_names,
    rule_queries,
    selectors,
)

PROMETHEUS_OWN = {"up": ("instance", "job")}
ADDED_BY_PROMETHEUS = {"instance", "job"}


def known_metrics() -> dict[str, set[str]]:
    """Metric name -> the label names a selector may match on."""
    known = {e.metric.name: set(e.metric.all_labels()) | ADDED_BY_PROMETHEUS for e in entries()}
    known.update({name: set(labels) for name, labels in PROMETHEUS_OWN.items()})
    # Recording rules keep labels of the metrics they are made from; their names say so.
    known.update({name: {"target", "datname", *ADDED_BY_PROMETHEUS} for name in recorded_names()})
    return known


def problems(queries: list[Query]) -> list[str]:
    known = known_metrics()
    found = []
    for query in queries:
        for name, labels in selectors(query.expr):
            if name not in known:
                found.append(f"{query.where}: {name} is not in the metrics catalogue")
                continue
            for label in set(labels) - known[name]:
                found.append(f"{query.where}: {name} has no label {label}")
    return found


def test_rules_read_only_catalogued_metrics() -> None:
    queries = rule_queries()
    assert len(queries) >= 20
    assert problems(queries) == []


def test_dashboards_exist() -> None:
    assert len(DASHBOARDS) >= 5, [d.name for d in DASHBOARDS]


@pytest.mark.parametrize("path", DASHBOARDS, ids=[d.name for d in DASHBOARDS])
def test_dashboard_reads_only_catalogued_metrics(path: Path) -> None:
    queries = dashboard_queries(path)
    assert queries, f"{path.name} has no queries"
    assert problems(queries) == []


def test_a_renamed_metric_or_label_is_caught() -> None:
    renamed = [
        Query("panel", 'rate(pg_stat_database_xact_commits{target=~".*"}[1m])'),
        Query("rule", 'pg_locks_count{mode="exclusivelock", database="x"} > 0'),
    ]
    assert problems(renamed) == [
        "panel: pg_stat_database_xact_commits is not in the metrics catalogue",
        "rule: pg_locks_count has no label database",
    ]
