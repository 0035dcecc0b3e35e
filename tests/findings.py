"""Run pgmon's collectors once against real servers and evaluate the checks on what they kept."""

from __future__ import annotations

from monitor.findings.engine import CheckResult, Policy, check_once
from monitor.findings.model import Finding
from monitor.settings import load_settings
from monitor.targets import build_targets


def run_checks(
    targets: dict[str, str], thresholds: dict[str, dict[str, float]] | None = None
) -> CheckResult:
    """`targets`: name -> DSN; a primary and its standbys may be given together."""
    settings = load_settings(
        None, targets=[{"name": name, "dsn": dsn} for name, dsn in targets.items()]
    )
    return check_once(build_targets(settings), Policy(thresholds or {}))


def of_check(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]
