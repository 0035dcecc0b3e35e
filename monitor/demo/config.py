"""What pgmon is told in the demo: both servers, short intervals and low thresholds, so
that every planted problem shows within half a minute instead of hours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psycopg.conninfo import make_conninfo

# Server-wide views are cheap: every 2 s. Catalog-wide collectors visit every database;
# the demo's are tiny, so every 5 s. Bloat estimates need no hurry.
_FAST = {"interval": "2s"}
_CATALOG = {"interval": "5s"}
COLLECTORS: dict[str, dict[str, str]] = {
    **{name: _FAST for name in ("connections", "locks", "sessions", "replication")},
    **{name: _CATALOG for name in ("database", "checkpointer", "wal", "archiver", "server")},
    **{name: _CATALOG for name in ("statements", "indexes", "index_catalog", "tables")},
    **{name: _CATALOG for name in ("sequences", "vacuum")},
    "bloat": {"interval": "1m"},
}

# Findings thresholds for a cluster minutes old with a small workload (docs/findings.md
# has the production defaults).
THRESHOLDS: dict[str, dict[str, float]] = {
    # The planted indexes are a few hundred kB, and statistics are seconds old.
    "unused_index": {"min_size_bytes": 0, "min_stats_age_seconds": 0},
    "missing_fk_index": {"min_table_size_bytes": 0},
    "idle_in_transaction": {"warning_seconds": 10},
    "long_running_transaction": {"warning_seconds": 120},
    "blocked_sessions": {"warning_seconds": 5},
    # Replay pauses for 15 s while the primary writes ~2 MB.
    "replication_lag": {"warning_seconds": 5, "warning_bytes": 512 * 1024},
}

# The same spirit for the alerting rules Prometheus loads (`pgmon alert-rules --set`).
ALERT_THRESHOLDS: dict[str, float] = {
    "idle_in_transaction_seconds": 10,
    "long_transaction_seconds": 120,
    "lock_wait_seconds": 5,
    "replication_lag_seconds": 5,
    "replication_lag_bytes": 512 * 1024,
}
ALERT_MAX_FOR_SECONDS = 4.0


def monitor_dsn(port: int, user: str, passfile: Path) -> str:
    """The monitoring role's DSN; its password stays in the passfile."""
    return make_conninfo(
        host="127.0.0.1", port=port, dbname="postgres", user=user, passfile=str(passfile)
    )


def pgmon_config(listen: str, primary_dsn: str, standby_dsn: str) -> dict[str, Any]:
    """The YAML `pgmon run --config` reads in the demo (kept in its directory)."""
    return {
        "listen": listen,
        "log_level": "info",
        "log_format": "console",
        "targets": [
            {"name": "primary", "dsn": primary_dsn},
            {"name": "standby", "dsn": standby_dsn},
        ],
        "collectors": COLLECTORS,
        "findings": {"interval": "2s", "thresholds": THRESHOLDS},
    }
