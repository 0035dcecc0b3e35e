"""Server set-up: statistics reset recently, pg_stat_statements missing, settings waiting for
a restart.

Rows: "server_stats_reset", "server_settings" and "statements_available" (server collector).
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.collectors.statements import preloaded
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
    quote_literal,
)

PGSS = "pg_stat_statements"


def _reset_message(row: Row, age: str) -> str:
    if row.view == "pg_stat_database":
        return (
            f"Statistics of database {row.datname} were reset {age} ago: table and index "
            "usage counts cover only that time, so checks such as unused_index may be "
            "unreliable."
        )
    return (
        f"Statistics in {row.view} were reset (or first started, as after initdb or a crash) "
        f"{age} ago: its counters cover only that time."
    )


def stats_reset_recent(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    for node in cluster.nodes:
        for row in node.get("server_stats_reset"):
            # NULL: never reset, the counters run since the database was created.
            if row.reset_seconds is None or row.reset_seconds > thresholds["max_age_seconds"]:
                continue
            yield Finding(
                check="stats_reset_recent",
                severity=Severity.INFO,
                target=node.target,
                datname=row.datname or "",
                object=row.view,
                message=_reset_message(row, duration(row.reset_seconds)),
                evidence={
                    "view": row.view,
                    "collecting_seconds": round(row.reset_seconds, 1),
                    "max_age_seconds": thresholds["max_age_seconds"],
                },
            )


def _libraries(setting: str) -> list[str]:
    return [item.strip().strip('"') for item in setting.split(",") if item.strip()]


def _preload_list(libraries: list[str]) -> str:
    """ALTER SYSTEM takes a list setting as one literal per item: one literal holding a
    comma-separated list would be quoted as a single library name."""
    return ", ".join(quote_literal(name) for name in libraries)


def _not_preloaded(node: Node, row: Row) -> Finding:
    before = _libraries(row.preload)
    after = [*before, PGSS]
    restore = (
        f"ALTER SYSTEM SET shared_preload_libraries = {_preload_list(before)};"
        if before
        else "ALTER SYSTEM RESET shared_preload_libraries;  -- it was empty"
    )
    create = [] if row.schema else [f"CREATE EXTENSION {PGSS};"]
    drop = [] if row.schema else [f"DROP EXTENSION {PGSS};"]
    return Finding(
        check="pg_stat_statements_missing",
        severity=Severity.WARNING,
        target=node.target,
        datname=row.datname,
        object=PGSS,
        message=f"{PGSS} is not in shared_preload_libraries, so no statement statistics are "
        "collected (slow or frequent queries go unseen).",
        evidence={
            "shared_preload_libraries": row.preload,
            "extension_created": row.schema is not None,
        },
        remediation="\n".join(
            (
                "-- Appends to the current list; takes effect at the next restart.",
                f"ALTER SYSTEM SET shared_preload_libraries = {_preload_list(after)};",
                *(["-- After the restart, in this database:", *create] if create else []),
            )
        ),
        rollback="\n".join(
            (*drop, "-- Restores the previous list; takes effect at the next restart.", restore)
        ),
    )


def _not_created(node: Node, row: Row) -> Finding:
    return Finding(
        check="pg_stat_statements_missing",
        severity=Severity.INFO,
        target=node.target,
        datname=row.datname,
        object=PGSS,
        message=f"Extension {PGSS} is not created in database {row.datname}, which pgmon "
        "connects to, so pgmon cannot read statement statistics.",
        evidence={"shared_preload_libraries": row.preload or "", "extension_created": False},
        remediation=f"CREATE EXTENSION {PGSS};",
        rollback=f"DROP EXTENSION {PGSS};",
    )


def pg_stat_statements_missing(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    for node in cluster.nodes:
        for row in node.get("statements_available"):
            # preload is NULL when this role may not read the setting: nothing to say then.
            if row.preload is not None and not preloaded(row.preload):
                yield _not_preloaded(node, row)
            elif row.schema is None and not node.in_recovery:
                yield _not_created(node, row)


def settings_pending_restart(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    for node in cluster.nodes:
        rows = node.get("server_settings")
        if not rows:
            continue
        names = [row.name for row in rows]
        listed = ", ".join(names)
        yield Finding(
            check="settings_pending_restart",
            severity=Severity.WARNING,
            target=node.target,
            datname="",
            object=listed,
            message=f"Changed settings wait for a restart to take effect: {listed}.",
            evidence={
                "settings": names,
                "values_in_effect": {row.name: row.setting for row in rows},
            },
            remediation=f"-- Restart the server to apply the new values of {listed}; no SQL "
            "applies them. Until then the values in effect stay as in values_in_effect.",
        )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        id="stats_reset_recent",
        summary="Cumulative statistics (a database's, or pg_stat_bgwriter / "
        "pg_stat_checkpointer) were reset, or started, less than the threshold ago.",
        why="Checks that read usage counters, such as unused_index, see only the time since "
        "the reset, so their findings may be premature.",
        avoids="A NULL reset time means never reset (the counters run since the database "
        "was created) and is not reported.",
        fix="Nothing to run: wait until the statistics cover a representative period. "
        "Nothing to roll back.",
        thresholds=(
            Threshold("max_age_seconds", 86400.0, "Report resets more recent than this (seconds)."),
        ),
        evaluate=stats_reset_recent,
        needs=("server_stats_reset",),
    ),
    CheckSpec(
        id="pg_stat_statements_missing",
        summary="pg_stat_statements is not in shared_preload_libraries (warning), or not "
        "created in the database pgmon connects to (info).",
        why="Without it no per-statement statistics exist, so slow and frequent queries "
        "cannot be found, and pgmon's statements collector stays off.",
        avoids="A library given as a path or with .so counts as loaded; when pgmon's role "
        "may not read shared_preload_libraries nothing is claimed; a standby is not asked "
        "to create an extension (it comes from the primary).",
        fix="ALTER SYSTEM appends pg_stat_statements to the current list (restart "
        "required), then CREATE EXTENSION; the rollback drops the extension and sets "
        "the previous list back.",
        thresholds=(),
        evaluate=pg_stat_statements_missing,
        needs=("statements_available",),
    ),
    CheckSpec(
        id="settings_pending_restart",
        summary="Settings were changed and reloaded but take effect only after a restart.",
        why="The running server does not do what its configuration says, and the next "
        "restart, perhaps an unplanned one, changes its behaviour.",
        avoids="Only pg_settings.pending_restart is trusted; settings that a reload "
        "applies are not reported.",
        fix="Restart the server (no SQL applies them); to undo, revert the change "
        "(ALTER SYSTEM RESET <name>; SELECT pg_reload_conf();).",
        thresholds=(),
        evaluate=settings_pending_restart,
        needs=("server_settings",),
    ),
)
