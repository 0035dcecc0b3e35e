"""server: configuration facts the findings look at, and settings waiting for a restart.

Keeps for the heuristics (monitor.findings.checks.server): settings whose new value waits
for a restart, how long ago each set of cumulative statistics was reset, and whether
pg_stat_statements is set up in the database pgmon connects to. The last comes from the
statements collector's own availability query: that collector stops (Unavailable) when the
extension is missing, and a collector that stops keeps no rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.collectors.base import CollectorSpec, Row, RunContext
from monitor.metrics import Sample, gauge

METRICS = (
    gauge(
        "pg_settings_pending_restart_settings",
        "Settings changed and reloaded whose new value takes effect only after a restart.",
    ),
)


def pending_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    yield Sample("pg_settings_pending_restart_settings", (), float(len(rows)))


def _pending(ctx: RunContext) -> list[Row]:
    """Settings waiting for a restart, read again only after a reload of the configuration:
    pg_settings builds every setting, the costliest statement of a 15-second cycle on a
    small server."""
    loaded_at = ctx.fetch("server_conf_loaded")[0].loaded_at
    last = ctx.state.get("pending")
    if last is not None and last[0] == loaded_at:
        return list(last[1])
    pending = ctx.fetch("server_settings")
    ctx.state["pending"] = (loaded_at, pending)
    return pending


def collect(ctx: RunContext) -> Iterable[Sample]:
    pending = _pending(ctx)
    ctx.keep("server_settings", pending)
    ctx.keep("server_stats_reset", ctx.fetch("server_stats_reset"))
    ctx.keep("statements_available", ctx.fetch("statements_available"))
    yield from pending_samples(pending)


SPEC = CollectorSpec(
    name="server",
    description="Settings pending a restart; for findings also statistics resets and the "
    "pg_stat_statements set-up.",
    metrics=METRICS,
    queries=("server_conf_loaded", "server_settings", "server_stats_reset", "statements_available"),
    collect=collect,
    interval=60.0,
    timeout=10.0,
)
