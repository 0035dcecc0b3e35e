"""Sessions: idle in transaction, long transactions, heads of blocking chains, and how close
the server is to running out of connections.

Rows: "sessions" and "sessions_blocking" (sessions collector), "connections_limits"
(connections collector). Every node of a cluster is looked at, standbys included.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from monitor.findings.checks._format import duration
from monitor.findings.model import (
    CheckSpec,
    Cluster,
    Finding,
    Node,
    Row,
    Severity,
    Threshold,
    Thresholds,
    quote_ident,
)

IDLE_IN_TRANSACTION = ("idle in transaction", "idle in transaction (aborted)")


def _severity(value: float, thresholds: Thresholds, prefix: str = "") -> Severity | None:
    if value > thresholds[f"critical_{prefix}seconds"]:
        return Severity.CRITICAL
    if value > thresholds[f"warning_{prefix}seconds"]:
        return Severity.WARNING
    return None


def _who(row: Row) -> dict[str, Any]:
    return {
        "pid": row.pid,
        "user": row.usename or "",
        "application_name": row.application_name or "",
        "client_addr": row.client_addr or "",
        "datname": row.datname or "",
        "state": row.state or "",
    }


def _describe(row: Row) -> str:
    app = f", application {row.application_name!r}" if row.application_name else ""
    return f"Session {row.pid} of {row.usename or 'an unknown role'}{app}"


def _still(function: str, pid: int, column: str, seconds: float, extra: str = "") -> str:
    """Call `function` on `pid` only if it is still the session that was seen: its
    transaction (or state) is at least as old as it was then, so a pid taken over by a new
    session in the meantime is left alone."""
    return (
        f"SELECT {function}(pid) FROM pg_stat_activity WHERE pid = {pid}{extra} "
        f"AND {column} <= clock_timestamp() - interval '{math.floor(seconds)} seconds';"
    )


def idle_in_transaction(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    for node in cluster.nodes:
        for row in node.get("sessions"):
            if row.state not in IDLE_IN_TRANSACTION or row.state_seconds is None:
                continue
            severity = _severity(row.state_seconds, thresholds)
            if severity is None:
                continue
            states = ", ".join(f"'{s}'" for s in IDLE_IN_TRANSACTION)
            remediation = "\n".join(
                (
                    "-- Ends the session, rolling its transaction back; the client finds its "
                    "connection closed.",
                    _still(
                        "pg_terminate_backend",
                        row.pid,
                        "state_change",
                        row.state_seconds,
                        f" AND state IN ({states})",
                    ),
                    "-- To have the server end such sessions by itself from now on (new "
                    "sessions of the role):",
                    f"-- ALTER ROLE {quote_ident(row.usename or 'app')} SET "
                    f"idle_in_transaction_session_timeout = "
                    f"'{thresholds['critical_seconds']:g}s';",
                )
            )
            yield Finding(
                check="idle_in_transaction",
                severity=severity,
                target=node.target,
                datname=row.datname or "",
                object=f"pid {row.pid}",
                message=f"{_describe(row)} has been idle in transaction for "
                f"{duration(row.state_seconds)}, holding its locks and its snapshot.",
                evidence={
                    **_who(row),
                    "idle_seconds": round(row.state_seconds, 1),
                    "transaction_seconds": round(row.xact_seconds or 0, 1),
                    "xmin_age": row.xmin_age,
                    "last_query": row.query or "",
                    "warning_seconds": thresholds["warning_seconds"],
                    "critical_seconds": thresholds["critical_seconds"],
                },
                remediation=remediation,
            )


def long_running_transaction(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    for node in cluster.nodes:
        for row in node.get("sessions"):
            if row.xact_seconds is None:
                continue
            severity = _severity(row.xact_seconds, thresholds)
            if severity is None:
                continue
            where = (
                " on a standby (with hot_standby_feedback on it holds back vacuum on the "
                "primary; with it off it can hold back replay)"
                if node.in_recovery
                else ", keeping vacuum from removing rows dead since it began"
            )
            cancel = _still("pg_cancel_backend", row.pid, "xact_start", row.xact_seconds)
            terminate = _still("pg_terminate_backend", row.pid, "xact_start", row.xact_seconds)
            yield Finding(
                check="long_running_transaction",
                severity=severity,
                target=node.target,
                datname=row.datname or "",
                object=f"pid {row.pid}",
                message=f"{_describe(row)} has had a transaction open for "
                f"{duration(row.xact_seconds)}{where}.",
                evidence={
                    **_who(row),
                    "transaction_seconds": round(row.xact_seconds, 1),
                    "state_seconds": round(row.state_seconds or 0, 1),
                    "xmin_age": row.xmin_age,
                    "standby": node.in_recovery,
                    "last_query": row.query or "",
                    "warning_seconds": thresholds["warning_seconds"],
                    "critical_seconds": thresholds["critical_seconds"],
                },
                remediation="\n".join(
                    (
                        "-- Cancels the running statement; an explicit transaction stays "
                        "open (aborted) until the client ends it.",
                        cancel,
                        "-- If the transaction stays open: end the session, rolling it back.",
                        f"-- {terminate}",
                    )
                ),
            )


def _blocker_remediation(row: Row) -> str:
    if row.pid == 0:
        return (
            "-- The blocker is a prepared transaction: find its gid in pg_prepared_xacts and "
            "COMMIT PREPARED or ROLLBACK PREPARED it, as the application that prepared it "
            "would."
        )
    seconds = row.xact_seconds or 0
    terminate = _still("pg_terminate_backend", row.pid, "xact_start", seconds)
    if row.state in IDLE_IN_TRANSACTION:
        return "\n".join(
            (
                "-- The blocker is idle in transaction, so only ending its session (rolling "
                "its transaction back) releases the locks.",
                terminate,
            )
        )
    return "\n".join(
        (
            "-- Cancels the blocker's running statement; its locks go when its transaction ends.",
            _still("pg_cancel_backend", row.pid, "xact_start", seconds),
            "-- If it keeps blocking: end its session, rolling its transaction back.",
            f"-- {terminate}",
        )
    )


def blocked_sessions(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    for node in cluster.nodes:
        for row in node.get("sessions_blocking"):
            waited = row.blocking_seconds or 0.0
            if row.blocked_sessions < thresholds["min_blocked_sessions"]:
                continue
            if waited <= thresholds["warning_seconds"]:
                continue
            critical = (
                waited > thresholds["critical_seconds"]
                or row.blocked_sessions >= thresholds["critical_blocked_sessions"]
            )
            who = (
                "A prepared transaction"
                if row.pid == 0
                else f"{_describe(row)} ({row.state or 'state unknown'})"
            )
            yield Finding(
                check="blocked_sessions",
                severity=Severity.CRITICAL if critical else Severity.WARNING,
                target=node.target,
                datname=row.datname or "",
                object=f"pid {row.pid}",
                message=f"{who} blocks {row.blocked_sessions} session(s) "
                f"({row.direct_sessions} directly); the longest has waited {duration(waited)}.",
                evidence={
                    **_who(row),
                    "direct_sessions": row.direct_sessions,
                    "blocked_sessions": row.blocked_sessions,
                    "blocking_seconds": round(waited, 1),
                    "transaction_seconds": round(row.xact_seconds or 0, 1),
                    "last_query": row.query or "",
                    "warning_seconds": thresholds["warning_seconds"],
                    "critical_seconds": thresholds["critical_seconds"],
                    "min_blocked_sessions": thresholds["min_blocked_sessions"],
                    "critical_blocked_sessions": thresholds["critical_blocked_sessions"],
                },
                remediation=_blocker_remediation(row),
            )


def _saturation(node: Node, row: Row, thresholds: Thresholds) -> Finding | None:
    available = row.max_connections - row.superuser_reserved - row.reserved
    ratio = row.used / available if available > 0 else 1.0
    if ratio > thresholds["critical_ratio"]:
        severity = Severity.CRITICAL
    elif ratio > thresholds["warning_ratio"]:
        severity = Severity.WARNING
    else:
        return None
    return Finding(
        check="connection_saturation",
        severity=severity,
        target=node.target,
        datname="",
        object="max_connections",
        message=f"{row.used} client sessions use {ratio:.0%} of the {available} connections "
        "open to ordinary roles; when they run out, new connections are refused.",
        evidence={
            "used": row.used,
            "available": available,
            "max_connections": row.max_connections,
            "superuser_reserved_connections": row.superuser_reserved,
            "reserved_connections": row.reserved,
            "ratio": round(ratio, 4),
            "warning_ratio": thresholds["warning_ratio"],
            "critical_ratio": thresholds["critical_ratio"],
        },
        remediation="\n".join(
            (
                "-- No statement fixes this safely. Put a connection pooler (e.g. PgBouncer "
                "in transaction mode) in front of the server,",
                "-- look for sessions left idle by the applications (pg_stat_activity), or "
                "raise max_connections, which needs a restart",
                "-- and memory (each connection may use work_mem several times over).",
            )
        ),
    )


def connection_saturation(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    for node in cluster.nodes:
        for row in node.get("connections_limits"):
            found = _saturation(node, row, thresholds)
            if found is not None:
                yield found


def _seconds(warning: float, critical: float, what: str) -> tuple[Threshold, ...]:
    return (
        Threshold("warning_seconds", warning, f"{what} longer than this (seconds): warning."),
        Threshold("critical_seconds", critical, f"{what} longer than this (seconds): critical."),
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        id="idle_in_transaction",
        summary="A session has been idle inside an open transaction for longer than the "
        "thresholds.",
        why="It keeps its locks, which others queue behind, and its snapshot, which keeps "
        "vacuum from removing dead rows anywhere in the cluster.",
        avoids="Only the time since the session went idle counts, not the transaction's age, "
        "so a busy transaction that pauses between statements is not reported; pgmon's own "
        "session is excluded.",
        fix="pg_terminate_backend() ends the session, guarded so that it only acts if the pid "
        "is still the same idle session; idle_in_transaction_session_timeout makes the server "
        "do it by itself. Nothing to roll back: the client reconnects and redoes its work.",
        thresholds=_seconds(60.0, 600.0, "Idle in transaction"),
        evaluate=idle_in_transaction,
        needs=("sessions",),
    ),
    CheckSpec(
        id="long_running_transaction",
        summary="A transaction has been open for longer than the thresholds, on a primary or "
        "a standby.",
        why="Rows deleted or updated since it began cannot be vacuumed, so tables and indexes "
        "bloat; on a standby with hot_standby_feedback the primary is held back the same way.",
        avoids="Sessions outside a transaction are never counted, however long they have been "
        "connected; an idle primary's standby is not confused with a lagging one.",
        fix="pg_cancel_backend() cancels the running statement, pg_terminate_backend() ends "
        "the session and rolls the transaction back; both are guarded against a reused pid. "
        "Nothing to roll back.",
        thresholds=_seconds(300.0, 3600.0, "Transaction open"),
        evaluate=long_running_transaction,
        needs=("sessions",),
    ),
    CheckSpec(
        id="blocked_sessions",
        summary="A session heads a chain of sessions waiting for its locks: how many it blocks, "
        "directly and through others, and for how long.",
        why="Every session queued behind it stalls, and its queue can grow until the "
        "connections run out.",
        avoids="Only the head of each chain is reported (not every waiter), only waits on "
        "heavyweight locks count, and short waits below the threshold are ordinary "
        "contention.",
        fix="pg_cancel_backend() on the head cancels its statement, pg_terminate_backend() "
        "ends its session (the only way when it is idle in transaction); a prepared "
        "transaction must be committed or rolled back by gid. Nothing to roll back.",
        thresholds=(
            *_seconds(30.0, 300.0, "Longest wait behind the head"),
            Threshold(
                "min_blocked_sessions", 1, "Report a head only when it blocks this many sessions."
            ),
            Threshold(
                "critical_blocked_sessions",
                10,
                "A head blocking this many sessions (over the warning wait) is critical.",
            ),
        ),
        evaluate=blocked_sessions,
        needs=("sessions_blocking",),
    ),
    CheckSpec(
        id="connection_saturation",
        summary="Client sessions use most of the connections open to ordinary roles "
        "(max_connections minus superuser_reserved_connections and reserved_connections).",
        why="When they run out, applications get 'too many clients' errors; only superusers "
        "(and pg_use_reserved_connections members) can still connect.",
        avoids="The reserved slots are not counted as available, and background processes and "
        "WAL senders are not counted as used.",
        fix="No SQL fixes it: a connection pooler, fewer idle application connections, or a "
        "larger max_connections (restart required). Nothing to roll back.",
        thresholds=(
            Threshold("warning_ratio", 0.8, "Fraction of available connections in use: warning."),
            Threshold(
                "critical_ratio", 0.95, "Fraction of available connections in use: critical."
            ),
        ),
        evaluate=connection_saturation,
        needs=("connections_limits",),
    ),
)
