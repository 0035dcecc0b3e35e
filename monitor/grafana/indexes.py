"""Indexes & findings: open index findings with their fix, index sizes and use, and how each
table is read (sequential or index scans)."""

from __future__ import annotations

from monitor.grafana import shared
from monitor.grafana.dashboard import Dashboard, Section
from monitor.grafana.panels import (
    Column,
    Json,
    Query,
    bargauge,
    mapping,
    table,
    thresholds,
    timeseries,
)
from monitor.grafana.promql import (
    TARGET,
    TARGET_DB,
    TARGET_DB_OR_SERVER,
    by,
    increase,
    rate,
    sel,
    topk,
)

TOP = 10
INDEX = "target, datname, schemaname, relname, indexrelname"
TABLE = "target, datname, schemaname, relname"
INDEX_LEGEND = "{{target}} {{datname}} {{schemaname}}.{{indexrelname}}"
TABLE_LEGEND = "{{target}} {{datname}} {{schemaname}}.{{relname}}"
REMAINDER_NOTE = (
    'Objects beyond pgmon\'s top N per database add up in one "other" series (schema empty).'
)
VALID = mapping({"0": ("INVALID", "red"), "1": ("valid", "green")})


def findings_by_check() -> Json:
    return bargauge(
        "Open index findings by check",
        "Open findings per index check, all selected targets, zeros included: invalid, "
        "duplicate, redundant and unused indexes, foreign keys without an index, bloated "
        "indexes. The table beside lists each one.",
        Query(
            by(
                "sum",
                "check",
                sel("pgmon_findings", TARGET, shared.check_matcher(shared.INDEX_CHECKS)),
            ),
            "{{check}}",
            instant=True,
        ),
        unit="none",
        colours=thresholds("green", (1, "orange")),
        size=(8, 9),
    )


def evidence_table() -> Json:
    where = f"{TARGET_DB_OR_SERVER}, {shared.check_matcher(shared.INDEX_CHECKS)}"
    return table(
        "Evidence of index findings",
        "Every number behind each open index finding, one row per key: size_bytes, "
        "idx_scan (scans counted on the primary and its standbys), stats_collecting_seconds "
        "(how long statistics have been gathered), table_bytes for a foreign key without "
        "index, and so on; docs/findings.md says what each check measures. "
        "Empty unless an index or foreign-key check has found something.",
        Query(
            by("max", "target, datname, check, object, key", sel("pgmon_finding_evidence", where))
        ),
        columns=(
            Column("target", "Target"),
            Column("datname", "Database"),
            Column("check", "Check"),
            Column("object", "Object"),
            Column("key", "Evidence"),
            Column("Value", "Value"),
        ),
        sort_by="Value",
        size=(24, 8),
    )


def indexes_table() -> Json:
    return table(
        "Indexes",
        "Each index pgmon tracks (the largest per database; invalid ones always): size, "
        "scans started during the time range, and validity. Large indexes with no scans cost "
        "writes and cache for nothing; the unused_index finding checks the standbys too "
        "before it says so. " + REMAINDER_NOTE,
        Query(by("max", INDEX, sel("pg_stat_user_indexes_size_bytes", TARGET_DB))),
        Query(by("sum", INDEX, increase("pg_stat_user_indexes_scans_total", TARGET_DB))),
        Query(by("min", INDEX, sel("pg_index_is_valid", TARGET_DB))),
        columns=(
            Column("target", "Target"),
            Column("datname", "Database"),
            Column("schemaname", "Schema"),
            Column("relname", "Table"),
            Column("indexrelname", "Index"),
            Column("Value #A", "Size", unit="bytes"),
            Column("Value #B", "Scans in range", unit="short"),
            Column("Value #C", "Valid", mappings=(VALID,)),
        ),
        sort_by="Size",
        size=(24, 10),
    )


def index_scans() -> Json:
    scans = by("sum", INDEX, rate("pg_stat_user_indexes_scans_total", TARGET_DB))
    return timeseries(
        f"Index scans per second (top {TOP} indexes)",
        f"Scans started per second on the {TOP} busiest indexes at each point in time. "
        + REMAINDER_NOTE,
        Query(topk(TOP, scans), INDEX_LEGEND),
        unit="ops",
    )


def index_size_per_database() -> Json:
    return timeseries(
        "Index size per database",
        "Disk space of the user indexes pgmon tracks, summed per database (the remainder "
        "included). Growth without more rows in the tables is index bloat.",
        Query(
            by("sum", "target, datname", sel("pg_stat_user_indexes_size_bytes", TARGET_DB)),
            "{{target}} {{datname}}",
        ),
        unit="bytes",
    )


def table_rate(title: str, what: str, metric: str, unit: str) -> Json:
    return timeseries(
        f"{title} (top {TOP} tables)",
        f"{what} on the {TOP} tables with the most at each point in time. " + REMAINDER_NOTE,
        Query(topk(TOP, by("sum", TABLE, rate(metric, TARGET_DB))), TABLE_LEGEND),
        unit=unit,
        size=(8, 8),
    )


def scans_table() -> Json:
    return table(
        "Sequential and index scans per table",
        "Per table, over the time range: sequential scans, rows they read, index scans, and "
        "the table's size. Many sequential scans reading many rows of a large table usually "
        "mean a missing index; on small tables they are normal and cheap. " + REMAINDER_NOTE,
        Query(by("sum", TABLE, increase("pg_stat_user_tables_seq_scan", TARGET_DB))),
        Query(by("sum", TABLE, increase("pg_stat_user_tables_seq_tup_read", TARGET_DB))),
        Query(by("sum", TABLE, increase("pg_stat_user_tables_idx_scan", TARGET_DB))),
        Query(by("max", TABLE, sel("pg_stat_user_tables_table_size_bytes", TARGET_DB))),
        columns=(
            Column("target", "Target"),
            Column("datname", "Database"),
            Column("schemaname", "Schema"),
            Column("relname", "Table"),
            Column("Value #A", "Sequential scans", unit="short"),
            Column("Value #B", "Rows read sequentially", unit="short"),
            Column("Value #C", "Index scans", unit="short"),
            Column("Value #D", "Table size", unit="bytes"),
        ),
        sort_by="Rows read sequentially",
        size=(24, 10),
    )


def dashboard() -> Dashboard:
    return Dashboard(
        uid="pgmon-indexes",
        title="pgmon / Indexes & findings",
        description="Index problems pgmon found, with the SQL that fixes them; index sizes and "
        "use; sequential versus index scans per table.",
        per_database=True,
        sections=(
            Section(
                "Index findings",
                "Open findings of the index checks, with evidence and fix SQL.",
                (
                    findings_by_check(),
                    shared.findings_table(
                        "Index and foreign-key findings",
                        TARGET_DB_OR_SERVER,
                        shared.INDEX_CHECKS,
                        "Empty unless an index or foreign-key check has found something.",
                        size=(16, 9),
                    ),
                    evidence_table(),
                ),
            ),
            Section(
                "Index size and use",
                "How big the indexes are and how often queries use them.",
                (indexes_table(), index_scans(), index_size_per_database()),
            ),
            Section(
                "Table scans",
                "How tables are read: sequential scans against index scans.",
                (
                    table_rate(
                        "Sequential scans per second",
                        "Sequential scans started per second",
                        "pg_stat_user_tables_seq_scan",
                        "ops",
                    ),
                    table_rate(
                        "Rows read sequentially per second",
                        "Rows fetched by sequential scans per second",
                        "pg_stat_user_tables_seq_tup_read",
                        "cps",
                    ),
                    table_rate(
                        "Index scans per second",
                        "Index scans started per second",
                        "pg_stat_user_tables_idx_scan",
                        "ops",
                    ),
                    scans_table(),
                ),
            ),
        ),
    )
