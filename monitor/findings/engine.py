"""From the latest snapshots to findings: group targets into clusters, run every check."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.findings.checks import all_checks, by_id
from monitor.findings.model import CheckSpec, Cluster, Finding, Node, Severity
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


def evaluate(
    nodes: Sequence[Node], policy: Policy, checks: Sequence[CheckSpec] | None = None
) -> list[Finding]:
    """Every check on every cluster; a check that raises is logged and skipped, not fatal."""
    findings: list[Finding] = []
    for cluster in clusters(nodes):
        for check in all_checks() if checks is None else checks:
            thresholds = policy.thresholds_for(check.id, check.defaults())
            try:
                found = list(check.evaluate(cluster, thresholds))
            except Exception:
                log.exception("check_crashed", check=check.id)
                continue
            findings.extend(f for f in found if not any(r.matches(f) for r in policy.ignore))
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
