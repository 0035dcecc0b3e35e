"""Bloat: tables and btree indexes much larger than their rows need (an estimate).

Reads the rows kept by the `bloat` collector: sizes from pg_class.relpages, expected sizes
from reltuples and pg_stats widths. Physical bloat is the same on a standby as on its
primary (it replays the same pages), so it is judged once per cluster, on the primary when
it is among the targets, else on the first node.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.findings.checks._format import duration, size
from monitor.findings.model import (
    CheckSpec,
    Cluster,
    Finding,
    Node,
    Row,
    Severity,
    Threshold,
    Thresholds,
    qualified,
    quote_ident,
)

MIB = 1024.0**2


def _severity(row: Row, thresholds: Thresholds) -> tuple[Severity, float] | None:
    actual, wasted = row.actual_bytes, row.wasted_bytes
    if actual < thresholds["min_size_bytes"] or wasted < thresholds["min_wasted_bytes"]:
        return None
    ratio = wasted / actual if actual else 0.0
    if ratio >= thresholds["critical_ratio"]:
        return Severity.CRITICAL, ratio
    if ratio >= thresholds["warning_ratio"]:
        return Severity.WARNING, ratio
    return None


def _evidence(row: Row, ratio: float, thresholds: Thresholds) -> dict[str, Any]:
    return {
        "actual_bytes": row.actual_bytes,
        "expected_bytes": row.expected_bytes,
        "wasted_bytes": row.wasted_bytes,
        "wasted_ratio": round(ratio, 3),
        "reltuples": row.reltuples,
        "fillfactor": row.fillfactor,
        "last_analyze_age_seconds": None
        if row.last_analyzed is None
        else round(row.now - row.last_analyzed),
        "estimate": "from pg_class.relpages/reltuples and pg_stats widths, as of the last "
        "VACUUM/ANALYZE; not a measurement",
        "min_size_bytes": thresholds["min_size_bytes"],
        "min_wasted_bytes": thresholds["min_wasted_bytes"],
        "warning_ratio": thresholds["warning_ratio"],
        "critical_ratio": thresholds["critical_ratio"],
    }


def _analyzed(row: Row) -> str:
    if row.last_analyzed is None:
        return "statistics of unknown age"
    return f"statistics {duration(row.now - row.last_analyzed)} old"


def _not_evaluated(node: Node, row: Row, thresholds: Thresholds) -> Finding | None:
    """Tables whose statistics the role may not read are not healthy, just unseen."""
    if row.hidden_tables == 0 or row.hidden_bytes < thresholds["min_size_bytes"]:
        return None
    role = quote_ident(row.monitor_role)
    return Finding(
        check="table_bloat",
        severity=Severity.INFO,
        target=node.target,
        datname=row.datname,
        object=quote_ident(row.datname),
        message=f"not evaluated: {role} may not read the statistics of {row.hidden_tables} "
        f"table(s) ({size(row.hidden_bytes)}) of database {row.datname}, so their bloat "
        f"cannot be estimated (grant SELECT on them, or pg_read_all_data, to {role}).",
        evidence={
            "hidden_tables": row.hidden_tables,
            "hidden_bytes": row.hidden_bytes,
            "monitor_role": row.monitor_role,
        },
        remediation=f"GRANT pg_read_all_data TO {role};  -- PG14+; or GRANT SELECT per schema",
        rollback=f"REVOKE pg_read_all_data FROM {role};",
    )


def table_bloat(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    node = cluster.reference
    if node is None:
        return
    for hidden in node.get("bloat_hidden"):
        unseen = _not_evaluated(node, hidden, thresholds)
        if unseen is not None:
            yield unseen
    for row in node.get("bloat_tables"):
        judged = _severity(row, thresholds)
        if judged is None:
            continue
        severity, ratio = judged
        table = qualified(row.schemaname, row.relname)
        evidence = _evidence(row, ratio, thresholds)
        evidence["row_width"] = row.row_width
        yield Finding(
            check="table_bloat",
            severity=severity,
            target=node.target,
            datname=row.datname,
            object=table,
            message=f"Table {table} takes {size(row.actual_bytes)} where its "
            f"{row.reltuples:.0f} rows need about {size(row.expected_bytes)}: an estimated "
            f"{size(row.wasted_bytes)} ({ratio:.0%}) is wasted ({_analyzed(row)}).",
            evidence=evidence,
            remediation=f"-- takes an ACCESS EXCLUSIVE lock on {table} (reads and writes wait) "
            "for the whole rewrite; pg_repack rebuilds it online without that lock\n"
            f"VACUUM (FULL, VERBOSE) {table};",
            rollback="",
        )


def index_bloat(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    node = cluster.reference
    if node is None:
        return
    for row in node.get("bloat_indexes"):
        judged = _severity(row, thresholds)
        if judged is None:
            continue
        severity, ratio = judged
        index = qualified(row.schemaname, row.indexrelname)
        evidence = _evidence(row, ratio, thresholds)
        evidence["table"] = qualified(row.schemaname, row.relname)
        evidence["key_width"] = row.key_width
        yield Finding(
            check="index_bloat",
            severity=severity,
            target=node.target,
            datname=row.datname,
            object=index,
            message=f"Index {index} takes {size(row.actual_bytes)} where its "
            f"{row.reltuples:.0f} entries need about {size(row.expected_bytes)}: an estimated "
            f"{size(row.wasted_bytes)} ({ratio:.0%}) is wasted ({_analyzed(row)}).",
            evidence=evidence,
            remediation=f"REINDEX INDEX CONCURRENTLY {index};",
            rollback="",
        )


def _thresholds(what: str) -> tuple[Threshold, ...]:
    return (
        Threshold(
            "min_size_bytes", 100 * MIB, f"{what} smaller than this (bytes) are never reported."
        ),
        Threshold(
            "min_wasted_bytes",
            50 * MIB,
            f"{what} with less estimated waste than this (bytes) are never reported.",
        ),
        Threshold(
            "warning_ratio", 0.5, "Warning when the estimated waste is this fraction of the size."
        ),
        Threshold("critical_ratio", 0.8, "Critical past this fraction of the size."),
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        id="table_bloat",
        summary="A table's file is much larger than its rows need: an estimate from "
        "pg_class (relpages, reltuples) and the column widths in pg_stats, with tuple "
        "headers, alignment, page headers and fillfactor accounted for.",
        why="Space freed by deletes and updates is reused by new rows but not given back: "
        "a bloated table costs disk, backups and cache, and sequential scans read the empty "
        "pages too.",
        avoids="Only tables above a minimum size and minimum estimated waste; tables without "
        "statistics for every column (never analyzed, or columns the monitoring role may not "
        "SELECT, which pg_stats hides) are skipped rather than guessed, and tables hidden "
        "from the role are reported once per database as not evaluated; fillfactor is "
        "honoured. It is an estimate as of the last VACUUM/ANALYZE (the evidence says how "
        "old); TOAST is not counted. Judged once per cluster (primary, else the first node): "
        "a standby has the same pages.",
        fix="VACUUM (FULL, VERBOSE) rewrites the table compactly but holds an ACCESS "
        "EXCLUSIVE lock throughout (pg_repack does it online). Nothing to roll back: the "
        "rewrite loses no data.",
        thresholds=_thresholds("Tables"),
        evaluate=table_bloat,
        needs=("bloat_tables", "bloat_hidden"),
    ),
    CheckSpec(
        id="index_bloat",
        summary="A btree index is much larger than its entries need: an estimate from "
        "pg_class (relpages, reltuples) and the key columns' widths in pg_stats, with entry "
        "headers, alignment, page overhead and fillfactor accounted for.",
        why="Btree pages emptied by deletes stay allocated; a bloated index costs disk and "
        "cache and makes range scans read more pages.",
        avoids="Only btree indexes on plain columns (expression indexes have no column "
        "statistics), above a minimum size and waste, whose table has statistics for every "
        "key column; an estimate as of the last VACUUM/ANALYZE. Judged once per cluster "
        "(primary, else the first node).",
        fix="REINDEX INDEX CONCURRENTLY builds a compact copy and swaps it in without "
        "blocking reads or writes (it needs time and the space of a second copy). Nothing "
        "to roll back: the rebuild loses no data.",
        thresholds=_thresholds("Indexes"),
        evaluate=index_bloat,
        needs=("bloat_indexes",),
    ),
)
