"""docs/runbooks.md: per alert, what it means, how to confirm it, what to do."""

from __future__ import annotations

from monitor.alerting import GROUPS
from monitor.alerting.model import Alert, placeholders
from monitor.alerting.render import covered_checks, resolve
from monitor.alerting.thresholds import BY_NAME, THRESHOLDS


def _fires_when(alert: Alert) -> list[str]:
    values = resolve({})
    lines = []
    for level in alert.levels:
        expr = alert.expr.replace("[[covered_checks]]", covered_checks())
        if level.threshold:
            expr = expr.replace("[[level]]", f"[[{level.threshold}]]")
        lines.append(f"- **{level.severity}** after {alert.for_}: `{expr}`")
        names = sorted(set(BY_NAME) & set(placeholders(expr)))
        if names:
            shown = ", ".join(f"`{n}` = {BY_NAME[n].pretty(values[n])}" for n in names)
            lines.append(f"  (thresholds: {shown})")
    return lines


def render() -> str:
    lines = [
        "# Runbooks",
        "",
        "Generated from the rule definitions (`python3 -m monitor.reference`); do not edit by",
        "hand. Every alert of `alerts/pgmon-rules.yml` links here through its `runbook_url`.",
        "In the expressions below, `[[name]]` is a threshold from the table at the end; change",
        "one with `pgmon alert-rules --set name=value > pgmon-rules.yml`.",
        "",
        "Alert thresholds mark the point where someone should act now. The findings of the",
        "same names (docs/findings.md) report earlier, as advice, so their defaults are lower.",
        "Alerts arrive grouped by alert name and target; see `alerts/alertmanager.yml`.",
        "",
    ]
    for group in GROUPS:
        for alert in group.alerts:
            lines += [f"## {alert.name}", "", *_fires_when(alert), ""]
            lines += ["**What it means.** " + alert.runbook.meaning, ""]
            lines += ["**How to confirm.** " + alert.runbook.confirm, ""]
            lines += ["**What to do.** " + alert.runbook.act, ""]
    lines += [
        "## Thresholds",
        "",
        "| name | default | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{t.name}` | {t.pretty(t.default)} | {t.description} |" for t in THRESHOLDS]
    return "\n".join(lines) + "\n"
