"""Overview: every target on one screen, then load, replication, findings and pgmon's own
health."""

from __future__ import annotations

from monitor.grafana import shared
from monitor.grafana.dashboard import Dashboard, Section
from monitor.grafana.panels import (
    Column,
    Json,
    Query,
    bargauge,
    mapping,
    stat,
    table,
    thresholds,
    timeseries,
)
from monitor.grafana.promql import RANGE_WINDOW, TARGET, by, increase, sel

UP = mapping({"0": ("down", "red"), "1": ("up", "green")})
# Collector age in seconds since its last success; 0 means "never", which is not an age.
COLLECTOR_AGE = f"time() - ({sel('pgmon_collector_last_success_timestamp_seconds', TARGET)} > 0)"


def _per_target(metric: str, aggregation: str = "max", *matchers: str) -> Query:
    return Query(by(aggregation, "target", sel(metric, TARGET, *matchers)))


def targets_table() -> Json:
    failing = (
        f"({sel('pgmon_collector_up', TARGET)} == bool 0) * "
        f"{sel('pgmon_collector_available', TARGET)}"
    )
    return table(
        "Targets",
        "One row per monitored server. Connected: pgmon's last connection attempt worked. "
        "Role from pg_is_in_recovery(). Connections used: share of the connections ordinary "
        "roles may open. Transactions/s and Cache hit ratio: over the last rate interval, as "
        "in the Load panels below. Replay delay: on standbys, the age of the last replayed "
        "commit while WAL waits to be replayed (0 on primaries). Critical and Warning: open "
        "findings. "
        "Failing collectors: collectors whose last run failed although they can work on this "
        "server; see the Collectors table.",
        _per_target("pg_up"),
        Query(by("max", "target, short_version", sel("pg_static", TARGET))),
        _per_target("pg_replication_is_replica"),
        _per_target("pg_stat_activity_connections_used_ratio"),
        Query(shared.transactions_per_second_expr()),
        Query(shared.cache_hit_ratio_expr()),
        _per_target("pg_replication_lag_seconds"),
        _per_target("pgmon_findings", "sum", 'severity="critical"'),
        _per_target("pgmon_findings", "sum", 'severity="warning"'),
        Query(by("sum", "target", failing)),
        columns=(
            Column("target", "Target"),
            Column("Value #A", "Connected", mappings=(UP,)),
            Column("short_version", "Version"),
            Column("Value #C", "Role", mappings=(shared.ROLE,)),
            Column("Value #D", "Connections used", unit="percentunit"),
            Column("Value #E", "Transactions/s", unit="ops"),
            Column("Value #F", "Cache hit ratio", unit="percentunit"),
            Column("Value #G", "Replay delay", unit="s"),
            Column("Value #H", "Critical findings"),
            Column("Value #I", "Warning findings"),
            Column("Value #J", "Failing collectors"),
        ),
        sort_by="Critical findings",
        size=(24, 7),
    )


def exporter_up() -> Json:
    # `up` has no target label: keep the pgmon scrape jobs that served the selected targets
    # at some point of the time range, so a pgmon that stopped answering still shows as 0.
    served = by("group", "instance, job", f"last_over_time({sel('pg_up', TARGET)}[{RANGE_WINDOW}])")
    return stat(
        "pgmon scrapes",
        "Prometheus' own `up` for each pgmon endpoint that served the selected targets during "
        "the time range: down means Prometheus cannot scrape pgmon, so every other panel "
        "shows stale or no data.",
        Query(f"up and on (instance, job) {served}", "{{instance}}"),
        mappings=(UP,),
        colours=thresholds("red", (1, "green")),
        size=(8, 8),
    )


def findings_by_severity() -> Json:
    return bargauge(
        "Open findings by severity",
        "Open findings per target and severity, zeros included. Critical needs action now, "
        "warning soon, info is advice. The Open findings table below lists them with the SQL "
        "that fixes them.",
        Query(
            by("sum", "target, severity", sel("pgmon_findings", TARGET)),
            "{{target}} {{severity}}",
            instant=True,
        ),
        unit="none",
        colours=thresholds("green", (1, "orange")),
        size=(8, 8),
    )


def collectors_table() -> Json:
    per_collector = "target, collector"

    def latest(metric: str) -> Query:
        return Query(by("max", per_collector, sel(metric, TARGET)))

    return table(
        "Collectors",
        "pgmon's collectors per target. Last run: whether it succeeded. Available: 'no' when "
        "the collector cannot work on this server (missing extension or privilege; pgmon's "
        "log says which). Data age: time since its last success, which is how old its "
        "metrics are; more than a few intervals means the data is stale. Errors: failed runs "
        "during the time range.",
        latest("pgmon_collector_up"),
        latest("pgmon_collector_available"),
        Query(by("max", per_collector, COLLECTOR_AGE)),
        latest("pgmon_collector_interval_seconds"),
        Query(by("sum", per_collector, increase("pgmon_collector_errors_total", TARGET))),
        latest("pgmon_collector_last_duration_seconds"),
        columns=(
            Column("target", "Target"),
            Column("collector", "Collector"),
            Column(
                "Value #A",
                "Last run",
                mappings=(mapping({"0": ("failed", "red"), "1": ("ok", "green")}),),
            ),
            Column(
                "Value #B",
                "Available",
                mappings=(mapping({"0": ("no", "orange"), "1": ("yes", "green")}),),
            ),
            Column("Value #C", "Data age", unit="s"),
            Column("Value #D", "Interval", unit="s"),
            Column("Value #E", "Errors"),
            Column("Value #F", "Last run took", unit="s"),
        ),
        sort_by="Data age",
        size=(24, 9),
    )


def collector_age() -> Json:
    return timeseries(
        "Collector data age",
        "Seconds since each collector last succeeded, per target: a saw-tooth up to the "
        "collector's interval is normal; a line that keeps climbing is a collector that stopped "
        "succeeding, and its metrics are that old.",
        Query(by("max", "target, collector", COLLECTOR_AGE), "{{target}} {{collector}}"),
        unit="s",
    )


def collector_errors() -> Json:
    errors = increase("pgmon_collector_errors_total", TARGET, window="$__rate_interval")
    return timeseries(
        "Collector errors",
        "Failed collector runs per rate interval, per target and collector (0 when all is "
        "well). Runs skipped because the collector cannot work on the server are not errors.",
        Query(by("sum", "target, collector", errors), "{{target}} {{collector}}"),
        unit="none",
    )


def dashboard() -> Dashboard:
    return Dashboard(
        uid="pgmon-overview",
        title="pgmon / Overview",
        description="Every PostgreSQL server pgmon watches: availability, load, replication, "
        "open findings and the health of pgmon's collectors.",
        sections=(
            Section(
                "Targets",
                "One row per server; the other dashboards go into detail.",
                (targets_table(),),
            ),
            Section(
                "Load",
                "Connections, throughput and cache efficiency per target.",
                (
                    shared.connections_used(),
                    shared.transactions_per_second(),
                    shared.cache_hit_ratio(),
                ),
            ),
            Section(
                "Replication and findings",
                "Standby delay, open findings, and whether Prometheus can scrape pgmon.",
                (shared.standby_replay_delay(), findings_by_severity(), exporter_up()),
            ),
            Section(
                "Open findings",
                "Every open finding with its fix; docs/findings.md explains the checks.",
                (
                    shared.findings_table(
                        "Open findings",
                        TARGET,
                        (),
                        "Empty unless a check has found something.",
                        size=(24, 9),
                    ),
                ),
            ),
            Section(
                "Collector health",
                "pgmon's collectors: failures, errors and how old their data is.",
                (collectors_table(), collector_age(), collector_errors()),
            ),
        ),
    )
