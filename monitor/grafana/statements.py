"""Queries: pg_stat_statements' heaviest statements, over time and over the time range, each
with its text."""

from __future__ import annotations

from monitor.grafana.dashboard import Dashboard, Section
from monitor.grafana.panels import Column, Json, Query, stat, table, thresholds, timeseries
from monitor.grafana.promql import TARGET, TARGET_DB, by, increase, rate, sel, topk

TOP = 10
# A statement's series are identified by these labels, and so is its text.
STATEMENT = "target, datname, user, queryid"
CALLS = "pg_stat_statements_calls_total"
SECONDS = "pg_stat_statements_seconds_total"
ROWS = "pg_stat_statements_rows_total"
BLOCKS_READ = "pg_stat_statements_shared_blocks_read_total"
BLOCKS_WRITTEN = "pg_stat_statements_shared_blocks_written_total"
WAL_BYTES = "pg_stat_statements_wal_bytes_total"

REMAINDER_NOTE = (
    'Statements outside pgmon\'s top N add up in one series shown as "other" (no database, '
    "no user), so it is listed only when all databases are selected. Empty unless "
    "pg_stat_statements is loaded and created in the database pgmon connects to (the "
    "pg_stat_statements_missing finding says which is lacking)."
)


def statement_text() -> str:
    """Text per statement, for a join on STATEMENT. Series without text still join, so none
    drops out: the remainder (queryid="other") reads "other", and a statement whose text
    pgmon has not fetched yet has an empty one. (No "$1" in label_replace: Grafana would take
    it for a variable.)"""
    text = by("max", f"{STATEMENT}, query", sel("pg_stat_statements_query_info", TARGET_DB))
    known = by("group", STATEMENT, sel(CALLS, TARGET_DB))
    untexted = f'label_replace({known}, "query", "other", "queryid", "other")'
    return f"({text} or on ({STATEMENT}) {untexted})"


def with_text(expr: str) -> str:
    """`expr`, one series per statement, with the statement's text as the `query` label."""
    return f"{expr} * on ({STATEMENT}) group_left (query) {statement_text()}"


def per_statement(expr: str) -> str:
    return by("sum", STATEMENT, expr)


def top_over_time(title: str, what: str, metric: str, unit: str) -> Json:
    return timeseries(
        f"{title} (top {TOP})",
        f"{what} by the {TOP} statements with the most, at each point in time (the set "
        f"changes as the load does). {REMAINDER_NOTE}",
        Query(
            with_text(topk(TOP, per_statement(rate(metric, TARGET_DB)))),
            "{{target}} {{datname}} {{user}}: {{query}}",
        ),
        unit=unit,
        size=(12, 10),
    )


def top_table(title: str, what: str, expr: str, unit: str) -> Json:
    heading = title[0].upper() + title[1:]
    return table(
        f"Top {TOP} statements by {title}",
        f"{what}, over the dashboard's time range, for the {TOP} statements with the "
        f"most. Query is pg_stat_statements' normalised text (constants as $1, $2, ...; "
        f"string literals it keeps shown as '***'), cut to 120 characters. {REMAINDER_NOTE}",
        Query(with_text(topk(TOP, expr))),
        columns=(
            Column("target", "Target"),
            Column("datname", "Database"),
            Column("user", "User"),
            Column("query", "Query"),
            Column("Value", heading, unit=unit),
            Column("queryid", "Query id"),
        ),
        sort_by=heading,
        size=(12, 9),
    )


def entries_used() -> Json:
    entries = by("max", "target", sel("pg_stat_statements_entries", TARGET))
    capacity = by("max", "target", sel("pg_settings_pg_stat_statements_max", TARGET))
    return stat(
        "pg_stat_statements entries used",
        "Entries pg_stat_statements holds as a share of pg_stat_statements.max. Near 100% it "
        "evicts the least used entries to make room, and their statistics are lost; raise "
        "pg_stat_statements.max (restart required) if it stays there. Empty unless "
        "pg_stat_statements is loaded and created in the database pgmon connects to.",
        Query(f"{entries} / {capacity}", "{{target}}"),
        unit="percentunit",
        colours=thresholds("green", (0.9, "orange")),
        size=(24, 4),
    )


def dashboard() -> Dashboard:
    blocks = f"{increase(BLOCKS_READ, TARGET_DB)} + {increase(BLOCKS_WRITTEN, TARGET_DB)}"
    mean = (
        f"{per_statement(increase(SECONDS, TARGET_DB))} / "
        f"({per_statement(increase(CALLS, TARGET_DB))} > 0)"
    )
    return Dashboard(
        uid="pgmon-queries",
        title="pgmon / Queries",
        description="The statements that cost the most, from pg_stat_statements (top-level "
        "statements, counted by pgmon so that resets and evictions do not distort rates).",
        per_database=True,
        sections=(
            Section(
                "Load by statement",
                "Rates per second of the heaviest statements.",
                (
                    entries_used(),
                    top_over_time(
                        "Execution time per second",
                        "Seconds spent executing per second (1 s/s: one backend busy all the time)",
                        SECONDS,
                        "s",
                    ),
                    top_over_time("Calls per second", "Executions per second", CALLS, "ops"),
                    top_over_time(
                        "Rows per second", "Rows returned or affected per second", ROWS, "cps"
                    ),
                    top_over_time(
                        "Blocks read per second",
                        "Shared blocks read from the operating system (cache misses) per second",
                        BLOCKS_READ,
                        "rps",
                    ),
                ),
            ),
            Section(
                "Top statements over the time range",
                "Totals over the selected time range, with each statement's text.",
                (
                    top_table(
                        "total time",
                        "Time spent executing",
                        per_statement(increase(SECONDS, TARGET_DB)),
                        "s",
                    ),
                    top_table(
                        "calls", "Executions", per_statement(increase(CALLS, TARGET_DB)), "short"
                    ),
                    top_table(
                        "mean time",
                        "Average execution time per call (only statements called during the range)",
                        mean,
                        "s",
                    ),
                    top_table(
                        "rows",
                        "Rows returned or affected",
                        per_statement(increase(ROWS, TARGET_DB)),
                        "short",
                    ),
                    top_table(
                        "block I/O",
                        "Shared blocks read from plus written to the "
                        "operating system (block_size each, usually 8 kB)",
                        per_statement(blocks),
                        "short",
                    ),
                    top_table(
                        "WAL",
                        "WAL generated, in bytes",
                        per_statement(increase(WAL_BYTES, TARGET_DB)),
                        "bytes",
                    ),
                ),
            ),
        ),
    )
