"""sessions: the sessions behind the activity findings, one row each, bounded by `top_n`.

The connections and locks collectors count sessions and chains; the findings need to name
them: which session has been idle in transaction, which transaction is the oldest, which
session heads a blocking chain. This collector keeps those rows for the heuristics
(monitor.findings.checks.activity) and exports no metrics of its own: a pid is no label.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.collectors.base import CollectorSpec, RunContext
from monitor.metrics import Sample

DEFAULT_TOP_N = 20


def collect(ctx: RunContext) -> Iterable[Sample]:
    top_n = DEFAULT_TOP_N if ctx.top_n is None else ctx.top_n
    ctx.keep("sessions", ctx.fetch("sessions", (top_n,)))
    ctx.keep("sessions_blocking", ctx.fetch("sessions_blocking", (top_n,)))
    return ()


SPEC = CollectorSpec(
    name="sessions",
    description="The oldest open transactions and the heads of blocking chains, for findings "
    "(no metrics).",
    metrics=(),
    queries=("sessions", "sessions_blocking"),
    collect=collect,
    interval=15.0,
    timeout=10.0,
    top_n=DEFAULT_TOP_N,
)
