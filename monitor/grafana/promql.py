"""PromQL pieces the dashboards share: label selectors on the template variables and the
few functions every panel wraps its metrics in.

Queries are plain strings; these helpers only keep the variable names, the rate window and
the label sets in one place.
"""

from __future__ import annotations

# `target` is set on every pgmon series; `datname` where a metric is per database.
TARGET = 'target=~"$target"'
TARGET_DB = 'target=~"$target", datname=~"$datname"'
# Server-wide findings have datname="", which a database selection would hide; they are
# about every database, so they stay listed whatever databases are selected.
TARGET_DB_OR_SERVER = 'target=~"$target", datname=~"$datname|"'

RATE_WINDOW = "$__rate_interval"
# Tables show what happened over the dashboard's whole time range.
RANGE_WINDOW = "$__range"


def sel(metric: str, *matchers: str) -> str:
    """`metric{m1, m2}`; matchers are already-formatted strings such as TARGET."""
    return f"{metric}{{{', '.join(matchers)}}}"


def rate(metric: str, *matchers: str, window: str = RATE_WINDOW) -> str:
    return f"rate({sel(metric, *matchers)}[{window}])"


def increase(metric: str, *matchers: str, window: str = RANGE_WINDOW) -> str:
    return f"increase({sel(metric, *matchers)}[{window}])"


def by(aggregation: str, labels: str, expr: str) -> str:
    """`sum by (target) (expr)`: an explicit label set, so that table columns and legends
    do not depend on Prometheus' instance/job labels."""
    return f"{aggregation} by ({labels}) ({expr})"


def topk(k: int, expr: str) -> str:
    return f"topk({k}, {expr})"
