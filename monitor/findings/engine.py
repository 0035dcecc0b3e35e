"""From the latest snapshots to findings: group targets into clusters, run every check."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from monitor.findings.checks import all_checks, by_id
from monitor.findings.model import CheckSpec, Cluster, Finding, Node, Row, Severity
from monitor.logs import get_logger
from monitor.settings import ConfigError, Settings
from monitor.snapshot import SnapshotStore
from monitor.targets import Target

log = get_logger()


@dataclass(frozen=True)
class IgnoreRule:
    check: str
    object: str
    target: str = "*"

    def matches(self, finding: Finding) -> bool:
        return (
            fnmatch.fnmatchcase(finding.check, self.check)
            and fnmatch.fnmatchcase(finding.object, self.object)
            # Exact names first: "[::1]:5432/app" would read as a pattern.
            and (finding.target == self.target or fnmatch.fnmatchcase(finding.target, self.target))
        )


@dataclass(frozen=True)
class Policy:
    """What the operator decided: thresholds per check, and findings they have accepted."""

    thresholds: dict[str, dict[str, float]]
    ignore: tuple[IgnoreRule, ...] = ()

    def thresholds_for(self, check_id: str, defaults: dict[str, float]) -> dict[str, float]:
        return {**defaults, **self.thresholds.get(check_id, {})}


def build_policy(settings: Settings, targets: Sequence[Target]) -> Policy:
    """Thresholds checked against the checks' declarations; ignore rules global and per target."""
    checks = by_id()
    for check_id, values in settings.findings.thresholds.items():
        spec = checks.get(check_id)
        if spec is None:
            known = ", ".join(sorted(checks))
            raise ConfigError(f"findings.thresholds.{check_id}: unknown check (known: {known})")
        for name in values:
            if name not in spec.defaults():
                known = ", ".join(sorted(spec.defaults())) or "none"
                raise ConfigError(
                    f"findings.thresholds.{check_id}.{name}: unknown threshold (known: {known})"
                )
    rules = [IgnoreRule(r.check, r.object, r.target) for r in settings.findings.ignore]
    for target in targets:
        rules += [IgnoreRule(r.check, r.object, target.name) for r in target.ignore]
    return Policy(dict(settings.findings.thresholds), tuple(rules))


def node_of(target: Target, store: SnapshotStore) -> Node | None:
    """None for a target never reached: nothing can be said about it."""
    endpoint = target.main
    if not endpoint.server_version:
        return None
    rows = store.rows_of(target.name)
    server = rows.get("replication", ())
    in_recovery = bool(server and server[0].in_recovery)
    return Node(
        target=target.name,
        server_version=endpoint.server_version,
        system_identifier=endpoint.system_identifier,
        in_recovery=in_recovery,
        rows=rows,
    )


def clusters(nodes: Iterable[Node]) -> list[Cluster]:
    """Nodes sharing a system identifier are one cluster (a primary and its standbys)."""
    grouped: dict[str, list[Node]] = {}
    alone: list[Cluster] = []
    for node in nodes:
        if node.system_identifier:
            grouped.setdefault(node.system_identifier, []).append(node)
        else:
            alone.append(Cluster((node,)))
    together = [
        Cluster(tuple(sorted(members, key=lambda n: (n.in_recovery, n.target))))
        for members in grouped.values()
    ]
    return together + alone


@dataclass(frozen=True)
class _Inputs:
    """What one check saw on one cluster; the row sets are compared by identity (a snapshot's
    rows are a new tuple on every run, and holding them here keeps that test sound)."""

    nodes: tuple[tuple[str, int, str, bool], ...]
    thresholds: tuple[tuple[str, float], ...]
    rows: tuple[Sequence[Row], ...]

    def same_as(self, other: _Inputs) -> bool:
        return (
            self.nodes == other.nodes
            and self.thresholds == other.thresholds
            and len(self.rows) == len(other.rows)
            and all(a is b for a, b in zip(self.rows, other.rows, strict=True))
        )


# Per (check, cluster): the inputs of the last evaluation and what it found.
Memo = dict[tuple[str, tuple[str, ...]], tuple[_Inputs, list[Finding]]]


def _restricted(cluster: Cluster, needs: tuple[str, ...]) -> Cluster:
    """The cluster with only the row sets a check declares: what it may read is what the
    memo compares."""
    return Cluster(
        tuple(replace(n, rows={name: n.get(name) for name in needs}) for n in cluster.nodes)
    )


def evaluate(
    nodes: Sequence[Node],
    policy: Policy,
    checks: Sequence[CheckSpec] | None = None,
    memo: Memo | None = None,
) -> list[Finding]:
    """Every check on every cluster; a check that raises is logged and skipped, not fatal.

    With a `memo`, a check whose rows, nodes and thresholds are those of its last evaluation
    is not run again: the index checks over a catalogue of 80,000 indexes take seconds, and
    their rows change every 5 minutes, not at every evaluation. The memo is updated in place
    and keeps only this evaluation's checks and clusters.
    """
    findings: list[Finding] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for cluster in clusters(nodes):
        for check in all_checks() if checks is None else checks:
            thresholds = policy.thresholds_for(check.id, check.defaults())
            inputs = _Inputs(
                tuple(
                    (n.target, n.server_version, n.system_identifier, n.in_recovery)
                    for n in cluster.nodes
                ),
                tuple(sorted(thresholds.items())),
                tuple(n.get(name) for n in cluster.nodes for name in check.needs),
            )
            key = (check.id, tuple(n.target for n in cluster.nodes))
            seen.add(key)
            last = memo.get(key) if memo is not None else None
            if last is not None and last[0].same_as(inputs):
                found = last[1]
            else:
                try:
                    found = list(check.evaluate(_restricted(cluster, check.needs), thresholds))
                except Exception:
                    log.exception("check_crashed", check=check.id)
                    continue
                if memo is not None:
                    memo[key] = (inputs, found)
            findings.extend(f for f in found if not any(r.matches(f) for r in policy.ignore))
    if memo is not None:
        for key in [key for key in memo if key not in seen]:
            del memo[key]
    return sorted(findings, key=lambda f: (-f.severity, f.check, f.target, f.datname, f.object))


def worst(findings: Iterable[Finding]) -> Severity | None:
    return max((f.severity for f in findings), default=None)


@dataclass(frozen=True)
class CheckResult:
    findings: list[Finding]
    unreachable: list[str]


def check_once(targets: Sequence[Target], policy: Policy) -> CheckResult:
    """Run every enabled collector of every target once, then every check (`pgmon check`)."""
    from monitor.daemon import make_jobs, run_all_once

    store = SnapshotStore()
    jobs = make_jobs(list(targets), store)
    run_all_once(jobs)
    for target in targets:
        target.close()
    nodes = [node for target in targets if (node := node_of(target, store)) is not None]
    reached = {node.target for node in nodes}
    unreachable = [t.name for t in targets if t.name not in reached]
    return CheckResult(evaluate(nodes, policy), unreachable)
