"""pgmon's own metrics: how each collector fared, whether each target answers, what it runs."""

from __future__ import annotations

import re
from collections.abc import Iterable

from monitor.metrics import MetricSpec, Sample, counter, gauge

COLLECTOR_METRICS = (
    gauge(
        "pgmon_collector_last_duration_seconds",
        "Wall time of the collector's last run.",
        "collector",
    ),
    gauge(
        "pgmon_collector_last_success_timestamp_seconds",
        "Unix time the collector last succeeded (0: never); the age of its cached metrics.",
        "collector",
    ),
    counter(
        "pgmon_collector_errors_total",
        "Runs of the collector that failed (not counting runs where it is unavailable).",
        "collector",
    ),
    gauge("pgmon_collector_up", "1 if the collector's last run succeeded.", "collector"),
    gauge(
        "pgmon_collector_available",
        "0 when the collector cannot work on this server (missing extension or privilege).",
        "collector",
    ),
    gauge("pgmon_collector_series", "Series the collector's last run produced.", "collector"),
    gauge(
        "pgmon_collector_interval_seconds",
        "Time between the collector's runs, so that staleness can be judged per collector.",
        "collector",
    ),
)

TARGET_METRICS = (
    gauge("pg_up", "1 if pgmon's last connection to the target's database succeeded."),
    gauge(
        "pg_static",
        "Server version (value 1) as labels, as postgres_exporter exports it.",
        "short_version",
        "version",
    ),
)

# The daemon's own state; their `target` label is empty.
DAEMON_METRICS = (
    gauge(
        "pgmon_connections_open",
        "Sessions the daemon holds to monitored servers, over all targets and databases.",
    ),
    gauge("pgmon_connections_max", "The max_connections setting (0: no limit)."),
    gauge(
        "pgmon_shard_targets",
        "Targets this daemon keeps as shard `shard_index` of `shard_count`.",
        "shard_index",
        "shard_count",
    ),
)

COLLECTOR_SPECS: dict[str, MetricSpec] = {m.name: m for m in COLLECTOR_METRICS}
TARGET_SPECS: dict[str, MetricSpec] = {m.name: m for m in TARGET_METRICS}
DAEMON_SPECS: dict[str, MetricSpec] = {m.name: m for m in DAEMON_METRICS}


def collector_samples(
    *,
    collector: str,
    duration: float,
    last_success: float,
    errors: int,
    ok: bool,
    available: bool,
    series: int,
    interval: float,
) -> Iterable[Sample]:
    key = (collector,)
    yield Sample("pgmon_collector_last_duration_seconds", key, duration)
    yield Sample("pgmon_collector_last_success_timestamp_seconds", key, last_success)
    yield Sample("pgmon_collector_errors_total", key, errors)
    yield Sample("pgmon_collector_up", key, 1.0 if ok else 0.0)
    yield Sample("pgmon_collector_available", key, 1.0 if available else 0.0)
    yield Sample("pgmon_collector_series", key, series)
    yield Sample("pgmon_collector_interval_seconds", key, interval)


def short_version(version: str) -> str:
    """'15.18 (Debian 15.18-0+deb12u1)' -> '15.18.0', the shape postgres_exporter uses."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    if match is None:
        return ""
    parts = [part or "0" for part in match.groups()]
    return ".".join(parts)


def target_samples(up: bool, version: str) -> Iterable[Sample]:
    yield Sample("pg_up", (), 1.0 if up else 0.0)
    if version:
        yield Sample("pg_static", (short_version(version), version), 1.0)


def daemon_samples(
    *, open_connections: int, max_connections: int, targets: int, shard: tuple[int, int]
) -> Iterable[Sample]:
    yield Sample("pgmon_connections_open", (), open_connections)
    yield Sample("pgmon_connections_max", (), max_connections)
    yield Sample("pgmon_shard_targets", (str(shard[0]), str(shard[1])), targets)
