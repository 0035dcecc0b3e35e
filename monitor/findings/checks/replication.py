"""Replication: slots nobody consumes that hold back WAL, and standbys trailing behind.

Rows: "replication", "replication_standbys" and "replication_slots" (replication collector),
on every node: a standby reports its own replay delay, a primary (or a cascading standby)
reports each standby it sends WAL to.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.findings.checks._format import GIB, duration, size
from monitor.findings.model import (
    CheckSpec,
    Cluster,
    Finding,
    Node,
    Row,
    Severity,
    Threshold,
    Thresholds,
    quote_literal,
)

SLOT_GONE = ("unreserved", "lost")  # WAL the slot needs is (about to be) removed


def _slot_severity(row: Row, retained: float, thresholds: Thresholds) -> Severity | None:
    if row.wal_status in SLOT_GONE or retained > thresholds["critical_bytes"]:
        return Severity.CRITICAL
    if retained > thresholds["warning_bytes"]:
        return Severity.WARNING
    if retained > thresholds["info_bytes"]:
        return Severity.INFO
    return None


def _recreate(row: Row) -> str:
    name = quote_literal(row.slot_name)
    if row.slot_type == "logical":
        plugin = quote_literal(row.plugin or "pgoutput")
        return f"SELECT pg_create_logical_replication_slot({name}, {plugin});"
    return f"SELECT pg_create_physical_replication_slot({name}, true);"


def inactive_replication_slot(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    for node in cluster.nodes:
        for row in node.get("replication_slots"):
            if row.active:
                continue
            retained = float(row.retained_bytes or 0)
            severity = _slot_severity(row, retained, thresholds)
            if severity is None:
                continue
            status = f" (wal_status {row.wal_status})" if row.wal_status in SLOT_GONE else ""
            yield Finding(
                check="inactive_replication_slot",
                severity=severity,
                target=node.target,
                datname=row.database or "",
                object=row.slot_name,
                message=f"Replication slot {row.slot_name} ({row.slot_type}) has no consumer "
                f"and holds back {size(retained)} of WAL{status}.",
                evidence={
                    "slot_name": row.slot_name,
                    "slot_type": row.slot_type,
                    "plugin": row.plugin or "",
                    "database": row.database or "",
                    "wal_status": row.wal_status or "",
                    "retained_bytes": int(retained),
                    "safe_wal_size_bytes": row.safe_wal_size,
                    "info_bytes": thresholds["info_bytes"],
                    "warning_bytes": thresholds["warning_bytes"],
                    "critical_bytes": thresholds["critical_bytes"],
                },
                remediation="\n".join(
                    (
                        "-- Frees the WAL the slot retains. Make sure no consumer (standby, "
                        "logical subscriber, backup tool) still needs it.",
                        f"SELECT pg_drop_replication_slot({quote_literal(row.slot_name)});",
                    )
                ),
                rollback="\n".join(
                    (
                        "-- Recreates the slot from the current WAL position: the WAL it held "
                        "is gone, so its consumer must be re-seeded",
                        "-- (a new base backup for a standby, a new initial sync for a logical "
                        "subscriber).",
                        _recreate(row),
                    )
                ),
            )


def _lag_severity(seconds: float, nbytes: float, thresholds: Thresholds) -> Severity | None:
    if seconds > thresholds["critical_seconds"] or nbytes > thresholds["critical_bytes"]:
        return Severity.CRITICAL
    if seconds > thresholds["warning_seconds"] or nbytes > thresholds["warning_bytes"]:
        return Severity.WARNING
    return None


ADVICE = "\n".join(
    (
        "-- No statement fixes lag. On the standby, look for replay paused "
        "(SELECT pg_get_wal_replay_pause_state();), queries",
        "-- replay waits for (max_standby_streaming_delay, pg_stat_database_conflicts) and "
        "I/O; on the primary, for the network and bulk writes.",
    )
)


def _evidence(seconds: float, nbytes: float, thresholds: Thresholds) -> dict[str, float]:
    return {
        "lag_seconds": round(seconds, 1),
        "lag_bytes": int(nbytes),
        "warning_seconds": thresholds["warning_seconds"],
        "critical_seconds": thresholds["critical_seconds"],
        "warning_bytes": thresholds["warning_bytes"],
        "critical_bytes": thresholds["critical_bytes"],
    }


def _standby_side(node: Node, row: Row, thresholds: Thresholds) -> Finding | None:
    """Replay delay as the standby sees it. lag_seconds is 0 unless received WAL waits to be
    replayed (see queries/replication.sql), so an idle primary is never lag."""
    nbytes = float(row.replay_lag_bytes or 0)
    # An idle primary still sends small housekeeping records (running-transactions snapshots
    # every 15 s); the instant one is received and not yet replayed, "now minus the last
    # replayed commit" jumps to the idle time. Count the delay only behind real WAL.
    pending = nbytes >= thresholds["min_pending_bytes"]
    seconds = float(row.lag_seconds or 0) if pending else 0.0
    severity = _lag_severity(seconds, nbytes, thresholds)
    if severity is None:
        return None
    return Finding(
        check="replication_lag",
        severity=severity,
        target=node.target,
        datname="",
        object=node.target,
        message=f"This standby's replay trails by {duration(seconds)}, with {size(nbytes)} of "
        "received WAL waiting to be replayed.",
        evidence={"side": "standby", **_evidence(seconds, nbytes, thresholds)},
        remediation=ADVICE,
    )


def _sender_side(node: Node, row: Row, thresholds: Thresholds) -> Finding | None:
    """A standby as its upstream sees it: WAL sent but not yet replayed there."""
    seconds = float(row.replay_lag_seconds or 0)
    nbytes = float(row.replay_lag_bytes or 0)
    severity = _lag_severity(seconds, nbytes, thresholds)
    if severity is None:
        return None
    name = row.application_name or ""
    return Finding(
        check="replication_lag",
        severity=severity,
        target=node.target,
        datname="",
        object=f"{name}@{row.client_addr or 'local'}",
        message=f"Standby {name!r} ({row.client_addr or 'local socket'}) has not replayed "
        f"the last {size(nbytes)} of WAL; its replay trails by {duration(seconds)}.",
        evidence={
            "side": "upstream",
            "application_name": name,
            "client_addr": row.client_addr or "",
            "state": row.state or "",
            "slot_name": row.slot_name or "",
            **_evidence(seconds, nbytes, thresholds),
        },
        remediation=ADVICE,
    )


def replication_lag(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    for node in cluster.nodes:
        if node.in_recovery:
            for row in node.get("replication"):
                found = _standby_side(node, row, thresholds)
                if found is not None:
                    yield found
        for row in node.get("replication_standbys"):
            if row.state == "backup":  # pg_basebackup's sender replays nothing
                continue
            found = _sender_side(node, row, thresholds)
            if found is not None:
                yield found


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        id="inactive_replication_slot",
        summary="A replication slot has no consumer attached and keeps WAL from being removed.",
        why="The retained WAL grows until the disk fills and the server stops, unless "
        "max_slot_wal_keep_size cuts it off, which leaves the slot lost to its consumer.",
        avoids="Active slots (such as a streaming standby's) are never reported, nor slots "
        "that retain no WAL; the size sets the severity, so a consumer reconnecting "
        "after a short break shows as info at most.",
        fix="pg_drop_replication_slot() drops the slot and frees its WAL; the rollback "
        "recreates it at the current position, but the retained WAL is gone and its "
        "consumer has to be re-seeded.",
        thresholds=(
            Threshold("info_bytes", 0, "Retained WAL above this (bytes): info."),
            Threshold("warning_bytes", GIB, "Retained WAL above this (bytes): warning."),
            Threshold(
                "critical_bytes",
                10 * GIB,
                "Retained WAL above this (bytes), or wal_status unreserved/lost: critical.",
            ),
        ),
        evaluate=inactive_replication_slot,
        needs=("replication_slots",),
    ),
    CheckSpec(
        id="replication_lag",
        summary="A standby's replay trails its primary by more than the thresholds, seen "
        "from the standby (replay delay, WAL waiting to be replayed) and from the primary "
        "(per standby).",
        why="Reads on the standby return old data, a failover loses or waits for that WAL, "
        "and the primary keeps the WAL until the standby has it.",
        avoids="An idle primary is not lag: the standby's delay counts only while received "
        "WAL waits to be replayed, and the primary's view is 0 once the standby has "
        "replayed everything sent.",
        fix="No SQL fixes it; the remediation lists where to look (paused replay, replay "
        "conflicts, I/O, network). Nothing to roll back.",
        thresholds=(
            Threshold("warning_seconds", 60.0, "Replay delay above this (seconds): warning."),
            Threshold("critical_seconds", 600.0, "Replay delay above this (seconds): critical."),
            Threshold("warning_bytes", GIB, "WAL not yet replayed above this (bytes): warning."),
            Threshold(
                "critical_bytes", 10 * GIB, "WAL not yet replayed above this (bytes): critical."
            ),
            Threshold(
                "min_pending_bytes",
                8192,
                "On a standby, the delay in seconds counts only while at least this much "
                "received WAL waits to be replayed.",
            ),
        ),
        evaluate=replication_lag,
        needs=("replication", "replication_standbys"),
    ),
)
