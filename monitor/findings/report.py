"""Findings as a table for people, JSON for programs, and metrics for Prometheus."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from monitor.findings.checks import all_checks
from monitor.findings.model import Finding, Severity
from monitor.metrics import MetricSpec, Sample, gauge, info

METRICS = (
    gauge(
        "pgmon_finding",
        "An open finding (value 1); see /findings for evidence and fix SQL.",
        "check",
        "severity",
        "datname",
        "object",
    ),
    gauge(
        "pgmon_finding_evidence",
        "Numeric evidence of an open finding (size_bytes, scans, age_seconds, ...), one series "
        "per key; the same findings as pgmon_finding.",
        "check",
        "datname",
        "object",
        "key",
    ),
    info(
        "pgmon_finding_remediation_info",
        "The SQL that fixes an open finding and the SQL that undoes the fix (value 1), for "
        "findings that have them; the same findings as pgmon_finding.",
        "check",
        "datname",
        "object",
        "remediation",
        "rollback",
    ),
    gauge("pgmon_findings", "Open findings per check and severity.", "check", "severity"),
    gauge(
        "pgmon_findings_last_evaluation_timestamp_seconds",
        "Unix time the heuristics last ran over this target's cached rows.",
    ),
)
SPECS: dict[str, MetricSpec] = {m.name: m for m in METRICS}


def _plain(value: object) -> object:
    """Evidence straight from rows: numerics as numbers, times as ISO 8601."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def as_json(findings: Iterable[Finding]) -> str:
    return json.dumps([f.as_dict() for f in findings], indent=2, default=_plain) + "\n"


def _indent(sql: str) -> str:
    """Continuation lines of multi-line SQL under the first, not at the left margin."""
    return sql.replace("\n", "\n" + " " * 20)


def as_text(findings: Sequence[Finding], unreachable: Sequence[str] = ()) -> str:
    lines = [f"UNREACHABLE  {name}: could not be checked" for name in unreachable]
    if not findings:
        lines.append("no findings")
    for f in findings:
        where = f"{f.target}/{f.datname}" if f.datname else f.target
        lines.append(f"{f.severity.label.upper():<9} {f.check:<26} {where}  {f.object}")
        lines.append(f"          {f.message}")
        if f.remediation:
            lines.append(f"          fix:      {_indent(f.remediation)}")
        if f.rollback:
            lines.append(f"          rollback: {_indent(f.rollback)}")
    return "\n".join(lines) + "\n"


def _numeric(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None


def _details(f: Finding) -> list[Sample]:
    """Evidence numbers as values (they change without creating series) and the fix SQL."""
    where = (f.check, f.datname, f.object)
    samples = [
        Sample("pgmon_finding_evidence", (*where, key), number)
        for key, value in f.evidence.items()
        if (number := _numeric(value)) is not None
    ]
    if f.remediation:
        samples.append(
            Sample("pgmon_finding_remediation_info", (*where, f.remediation, f.rollback), 1)
        )
    return samples


def metric_samples(findings: Sequence[Finding], max_per_check: int, now: float) -> list[Sample]:
    """Counts for every check x severity (zeros too, so alerts see a problem go away), and
    per finding, up to `max_per_check` most severe first, one series with its evidence and
    fix."""
    counts = Counter((f.check, f.severity) for f in findings)
    samples = [
        Sample("pgmon_findings", (check.id, severity.label), counts[(check.id, severity)])
        for check in all_checks()
        for severity in Severity
    ]
    shown: Counter[str] = Counter()
    seen: set[tuple[str, str, str, str]] = set()
    for f in findings:  # already sorted most severe first
        key = (f.check, f.severity.label, f.datname, f.object)
        if shown[f.check] >= max_per_check or key in seen:
            continue
        shown[f.check] += 1
        seen.add(key)
        samples.append(Sample("pgmon_finding", key, 1))
        samples.extend(_details(f))
    samples.append(evaluated_at(now))
    return samples


def evaluated_at(now: float) -> Sample:
    return Sample("pgmon_findings_last_evaluation_timestamp_seconds", (), now)
