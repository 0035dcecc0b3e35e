"""Every number the alerting rules compare against, in one place.

Change one with `pgmon alert-rules --set NAME=VALUE` (or a YAML file of overrides) and load
the rules it prints; docs/runbooks.md lists them with their defaults.
"""

from __future__ import annotations

from monitor.alerting.model import Threshold

_GIB = 1024**3

THRESHOLDS = (
    Threshold(
        "pgmon_job",
        ".*pgmon.*",
        "text",
        "Regex of the Prometheus job names that scrape pgmon (for the scrape-failure alert).",
    ),
    Threshold(
        "collector_stale_intervals",
        3,
        "count",
        "A collector is stale after this many of its intervals without a success.",
    ),
    Threshold(
        "connections_used_warning",
        0.85,
        "ratio",
        "Client sessions as a fraction of the connections ordinary roles may open.",
    ),
    Threshold("connections_used_critical", 0.95, "ratio", "Same, critical."),
    Threshold(
        "idle_in_transaction_seconds",
        300,
        "seconds",
        "Longest time a session may sit idle inside an open transaction.",
    ),
    Threshold(
        "long_transaction_seconds", 3600, "seconds", "Longest time a transaction may stay open."
    ),
    Threshold(
        "lock_wait_seconds",
        60,
        "seconds",
        "Longest time a session may wait for a lock held by another.",
    ),
    Threshold(
        "deadlocks_in_10m",
        0,
        "count",
        "Deadlocks tolerated per database within 10 minutes.",
    ),
    Threshold(
        "replication_lag_bytes",
        _GIB,
        "bytes",
        "WAL a standby may have received but not replayed.",
    ),
    Threshold(
        "replication_lag_seconds",
        300,
        "seconds",
        "Age of the last replayed commit while WAL waits to be replayed on a standby.",
    ),
    Threshold(
        "slot_retained_wal_bytes",
        10 * _GIB,
        "bytes",
        "WAL a replication slot may hold back on the server.",
    ),
    Threshold(
        "xid_wraparound_warning",
        0.5,
        "ratio",
        "Age of a database's oldest unfrozen transaction ID as a fraction of 2^31 "
        "(the server stops assigning IDs just before 1).",
    ),
    Threshold("xid_wraparound_critical", 0.75, "ratio", "Same, critical."),
    Threshold(
        "multixact_wraparound_warning",
        0.5,
        "ratio",
        "Age of a database's oldest multixact ID as a fraction of 2^31.",
    ),
    Threshold("multixact_wraparound_critical", 0.75, "ratio", "Same, critical."),
    Threshold(
        "sequence_used_warning",
        0.75,
        "ratio",
        "Fraction of its usable range the most used sequence of a database may have consumed.",
    ),
    Threshold("sequence_used_critical", 0.9, "ratio", "Same, critical."),
    Threshold(
        "checkpoints_requested_per_hour",
        6,
        "count",
        "Requested (not timed) checkpoints per hour above which checkpoints are too frequent.",
    ),
    Threshold(
        "checkpoints_requested_ratio",
        0.5,
        "ratio",
        "...and the fraction of all checkpoints that were requested.",
    ),
    Threshold(
        "statements_deallocations_per_hour",
        0,
        "count",
        "pg_stat_statements evictions tolerated per hour.",
    ),
)

BY_NAME = {t.name: t for t in THRESHOLDS}
