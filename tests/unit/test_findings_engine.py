"""The findings engine: clusters by system identifier, thresholds, ignore rules, reports."""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal

import pytest

from monitor.findings.engine import IgnoreRule, Policy, build_policy, clusters, evaluate
from monitor.findings.model import CheckSpec, Cluster, Finding, Node, Severity, Threshold
from monitor.findings.report import as_json, as_text, metric_samples
from monitor.settings import ConfigError, load_settings
from monitor.targets import build_targets

Table = namedtuple("Table", "datname relname dead")


def node(target: str, sysid: str, standby: bool = False, dead: int = 0) -> Node:
    return Node(target, 170000, sysid, standby, {"tables": (Table("app", "t", dead),)})


def dead_rows(cluster: Cluster, thresholds: Mapping[str, float]) -> Iterable[Finding]:
    """A toy check: one finding per node whose table has more dead rows than allowed."""
    for n in cluster.nodes:
        for row in n.get("tables"):
            if row.dead > thresholds["max_dead"]:
                severity = Severity.CRITICAL if row.dead > 100 else Severity.WARNING
                yield Finding("toy", severity, n.target, row.datname, f"public.{row.relname}", "x")


TOY = CheckSpec(
    id="toy",
    summary="s",
    why="w",
    avoids="a",
    fix="f",
    thresholds=(Threshold("max_dead", 10, "allowed dead rows"),),
    evaluate=dead_rows,
    needs=("tables",),
)


def test_primary_and_standbys_share_a_cluster() -> None:
    found = clusters([node("b-standby", "1", True), node("other", "2"), node("a-primary", "1")])
    by_size = sorted(found, key=lambda c: -len(c.nodes))
    assert [n.target for n in by_size[0].nodes] == ["a-primary", "b-standby"]
    assert by_size[0].primary is not None and by_size[0].primary.target == "a-primary"
    assert [n.target for n in by_size[0].standbys] == ["b-standby"]
    assert [n.target for n in by_size[1].nodes] == ["other"]


def test_unknown_identity_never_merges_nodes() -> None:
    assert len(clusters([node("a", ""), node("b", "")])) == 2


def test_thresholds_override_defaults_and_findings_sort_most_severe_first() -> None:
    nodes = [node("a", "1", dead=50), node("b", "2", dead=500)]
    found = evaluate(nodes, Policy({}), [TOY])
    assert [(f.target, f.severity) for f in found] == [
        ("b", Severity.CRITICAL),
        ("a", Severity.WARNING),
    ]
    assert evaluate(nodes, Policy({"toy": {"max_dead": 1000}}), [TOY]) == []


def test_ignore_rules_match_check_object_and_target() -> None:
    nodes = [node("[::1]:5432/app", "1", dead=50), node("b", "2", dead=50)]
    policy = Policy({}, (IgnoreRule("to*", "public.*", "[::1]:5432/app"),))
    assert [f.target for f in evaluate(nodes, policy, [TOY])] == ["b"]


def test_a_crashing_check_does_not_stop_the_others() -> None:
    def broken(cluster: Cluster, thresholds: Mapping[str, float]) -> Iterable[Finding]:
        raise RuntimeError("bug")

    crashing = CheckSpec("broken", "s", "w", "a", "f", (), broken)
    assert len(evaluate([node("a", "1", dead=50)], Policy({}), [crashing, TOY])) == 1


def test_unknown_check_or_threshold_is_a_config_error() -> None:
    settings = load_settings(None, findings={"thresholds": {"no_such_check": {"x": 1}}})
    with pytest.raises(ConfigError, match=r"findings.thresholds.no_such_check: unknown check"):
        build_policy(settings, build_targets(settings))


def test_per_target_ignore_rules_apply_to_that_target_only() -> None:
    settings = load_settings(
        None,
        targets=[
            {"name": "a", "dsn": "host=x", "ignore": [{"check": "toy"}]},
            {"name": "b", "dsn": "host=y"},
        ],
    )
    policy = build_policy(settings, build_targets(settings))
    found = evaluate([node("a", "1", dead=50), node("b", "2", dead=50)], policy, [TOY])
    assert [f.target for f in found] == ["b"]


def test_reports() -> None:
    finding = Finding(
        "toy",
        Severity.WARNING,
        "t",
        "app",
        'public."T"',
        "Too many dead rows.",
        {"dead": 50},
        'VACUUM public."T";',
        "",
    )
    (as_dict,) = json.loads(as_json([finding]))
    assert set(as_dict) == {
        "check", "severity", "target", "datname", "object", "message",
        "evidence", "remediation", "rollback",
    }  # fmt: skip
    assert as_dict["severity"] == "warning"
    text = as_text([finding], unreachable=["down"])
    assert "UNREACHABLE  down" in text and "WARNING" in text and 'public."T"' in text


def test_metric_samples_count_zeros_and_cap_series() -> None:
    many = [Finding("toy", Severity.WARNING, "t", "app", f"public.t{i}", "x") for i in range(5)]
    samples = metric_samples(many, max_per_check=2, now=1.0)
    series = [s for s in samples if s.metric == "pgmon_finding"]
    assert len(series) == 2
    counts = {s.labels: s.value for s in samples if s.metric == "pgmon_findings"}
    # Every registered check x severity is present; the toy check is not registered.
    assert all(value == 0 for value in counts.values())


def test_metric_samples_carry_numeric_evidence_and_fix_sql() -> None:
    finding = Finding(
        "toy",
        Severity.WARNING,
        "t",
        "app",
        "public.i",
        "Unused.",
        {"size_bytes": Decimal(8192), "scans": 0, "partitioned": False, "table": "public.t"},
        "DROP INDEX CONCURRENTLY public.i;",
        "CREATE INDEX CONCURRENTLY i ON public.t (a);",
    )
    samples = metric_samples([finding], max_per_check=5, now=1.0)
    evidence = {s.labels[-1]: s.value for s in samples if s.metric == "pgmon_finding_evidence"}
    assert evidence == {"size_bytes": 8192.0, "scans": 0.0, "partitioned": 0.0}
    (fix,) = [s for s in samples if s.metric == "pgmon_finding_remediation_info"]
    assert fix.labels == (
        "toy",
        "app",
        "public.i",
        "DROP INDEX CONCURRENTLY public.i;",
        "CREATE INDEX CONCURRENTLY i ON public.t (a);",
    )
    capped = metric_samples([finding], max_per_check=0, now=1.0)
    assert not [s for s in capped if s.metric.startswith("pgmon_finding_")]


def _counting(calls: list[str]) -> CheckSpec:
    def counted(cluster: Cluster, thresholds: Mapping[str, float]) -> Iterable[Finding]:
        calls.append(",".join(n.target for n in cluster.nodes))
        return dead_rows(cluster, thresholds)

    return CheckSpec("toy", "s", "w", "a", "f", TOY.thresholds, counted, needs=("tables",))


def test_memo_runs_a_check_again_only_when_its_inputs_change() -> None:
    calls: list[str] = []
    check = _counting(calls)
    memo: dict = {}  # type: ignore[type-arg]
    a, b = node("a", "1", dead=50), node("b", "2", dead=50)
    first = evaluate([a, b], Policy({}), [check], memo=memo)
    again = evaluate([a, b], Policy({}), [check], memo=memo)
    assert calls == ["a", "b"] and again == first
    # New rows for one node (a new snapshot): only its cluster is judged again.
    a2 = node("a", "1", dead=50)
    evaluate([a2, b], Policy({}), [check], memo=memo)
    assert calls == ["a", "b", "a"]
    # New thresholds: everything again, with the new result.
    assert evaluate([a2, b], Policy({"toy": {"max_dead": 100}}), [check], memo=memo) == []
    assert calls == ["a", "b", "a", "a", "b"]
    # A node turning standby changes the inputs too.
    stricter = Policy({"toy": {"max_dead": 100}})
    evaluate([replace(a2, in_recovery=True), b], stricter, [check], memo=memo)
    assert calls[-1] == "a" and len(calls) == 6
    # A target gone: its entry goes too.
    evaluate([b], Policy({}), [check], memo=memo)
    assert {targets for _, targets in memo} == {("b",)}


def test_a_check_sees_only_the_rows_it_declares() -> None:
    seen: list[set[str]] = []

    def greedy(cluster: Cluster, thresholds: Mapping[str, float]) -> Iterable[Finding]:
        seen.append({name for n in cluster.nodes for name in n.rows if n.get(name)})
        return []

    spec = CheckSpec("greedy", "s", "w", "a", "f", (), greedy, needs=("other",))
    rows = {"tables": (Table("app", "t", 1),), "other": (Table("app", "u", 2),)}
    evaluate([Node("a", 170000, "1", False, rows)], Policy({}), [spec], memo={})
    assert seen == [{"other"}]
