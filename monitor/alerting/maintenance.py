"""Slow dangers: wraparound, sequences running out, broken indexes, checkpoint pressure,
statement statistics evicted, and any other critical finding."""

from __future__ import annotations

from monitor.alerting.model import Alert, Group, Level, Recording, Runbook

_TWO_TO_31 = "2147483648"


def _per_version(expr: str, old: str, new: str) -> str:
    """`expr` over PG17+'s pg_stat_checkpointer, else over pg_stat_bgwriter."""
    return f"{expr.format(new)} or {expr.format(old)}"


RECORDINGS = (
    Recording(
        "target_datname:pg_xid_wraparound:ratio",
        f"pg_database_wraparound_age_datfrozenxid_seconds / {_TWO_TO_31}",
    ),
    Recording(
        "target_datname:pg_multixact_wraparound:ratio",
        f"pg_database_wraparound_age_datminmxid_seconds / {_TWO_TO_31}",
    ),
    Recording(
        "target:pg_checkpoints_requested:rate1h",
        _per_version(
            "rate({}[1h])",
            "pg_stat_bgwriter_checkpoints_req_total",
            "pg_stat_checkpointer_num_requested_total",
        ),
    ),
    Recording(
        "target:pg_checkpoints_timed:rate1h",
        _per_version(
            "rate({}[1h])",
            "pg_stat_bgwriter_checkpoints_timed_total",
            "pg_stat_checkpointer_num_timed_total",
        ),
    ),
)

_VACUUM_FREEZE = (
    "Find the tables holding the age back:\n\n```sql\nSELECT c.oid::regclass, "
    "age(c.relfrozenxid), mxid_age(c.relminmxid)\nFROM pg_class c WHERE c.relkind IN "
    "('r', 't', 'm') ORDER BY 2 DESC LIMIT 10;\n```"
)

GROUP = Group(
    "pgmon-maintenance",
    recordings=RECORDINGS,
    alerts=(
        Alert(
            name="PostgresXidWraparound",
            expr="target_datname:pg_xid_wraparound:ratio > [[level]]",
            levels=(
                Level("warning", "xid_wraparound_warning"),
                Level("critical", "xid_wraparound_critical"),
            ),
            for_="5m",
            summary="{{ $labels.target }}/{{ $labels.datname }} used "
            "{{ $value | humanizePercentage }} of its transaction IDs",
            description="The oldest unfrozen transaction ID of database {{ $labels.datname }} "
            "on {{ $labels.target }} is {{ $value | humanizePercentage }} of the way to "
            "wraparound; the server refuses writes before it gets there.",
            covers=("xid_wraparound",),
            runbook=Runbook(
                meaning="Transaction IDs are 32-bit; rows must be frozen by VACUUM before "
                "their IDs are 2^31 transactions old. Autovacuum starts anti-wraparound "
                "vacuums at `autovacuum_freeze_max_age`; if they cannot finish, the server "
                "eventually stops assigning IDs and accepts no writes.",
                confirm=_VACUUM_FREEZE + "\n\nAlso look for what blocks freezing: a long "
                "transaction, a prepared transaction (`pg_prepared_xacts`), or a stale "
                "replication slot (`xmin`, `catalog_xmin`).",
                act="Remove the blocker, then run `VACUUM (FREEZE, VERBOSE)` on the oldest "
                "tables, outside peak hours if possible. Make autovacuum keep up "
                "(`autovacuum_vacuum_cost_limit`, more workers).",
            ),
        ),
        Alert(
            name="PostgresMultixactWraparound",
            expr="target_datname:pg_multixact_wraparound:ratio > [[level]]",
            levels=(
                Level("warning", "multixact_wraparound_warning"),
                Level("critical", "multixact_wraparound_critical"),
            ),
            for_="5m",
            summary="{{ $labels.target }}/{{ $labels.datname }} used "
            "{{ $value | humanizePercentage }} of its multixact IDs",
            description="The oldest multixact ID of database {{ $labels.datname }} on "
            "{{ $labels.target }} is {{ $value | humanizePercentage }} of the way to "
            "wraparound.",
            covers=("multixact_wraparound",),
            runbook=Runbook(
                meaning="Multixact IDs (used when several transactions lock the same row, "
                "e.g. foreign-key checks and `SELECT ... FOR SHARE`) wrap around like "
                "transaction IDs and are frozen by the same VACUUM.",
                confirm=_VACUUM_FREEZE,
                act="As for PostgresXidWraparound; `autovacuum_multixact_freeze_max_age` "
                "governs when autovacuum acts.",
            ),
        ),
        Alert(
            name="PostgresSequenceExhaustion",
            expr="pg_sequences_max_used_ratio > [[level]]",
            levels=(
                Level("warning", "sequence_used_warning"),
                Level("critical", "sequence_used_critical"),
            ),
            for_="5m",
            summary="A sequence of {{ $labels.target }}/{{ $labels.datname }} used "
            "{{ $value | humanizePercentage }} of its range",
            description="The most used sequence of database {{ $labels.datname }} on "
            "{{ $labels.target }} has consumed {{ $value | humanizePercentage }} of the values "
            "it (or the column it feeds) can hold; inserts fail when it runs out.",
            covers=("sequence_exhaustion",),
            runbook=Runbook(
                meaning="A sequence (often an `integer` serial) approaches its maximum or "
                "the maximum of the column it fills. At the end, `nextval()` or the insert "
                "fails and the application cannot add rows.",
                confirm="`pgmon check` names the sequence and column. By hand: `SELECT "
                "schemaname, sequencename, last_value, max_value FROM pg_sequences ORDER BY "
                "last_value::float / max_value DESC;`",
                act="Widen the column to `bigint` (rewrites the table: plan it) and the "
                "sequence with `ALTER SEQUENCE ... AS bigint`. `pgmon check` gives the SQL.",
            ),
        ),
        Alert(
            name="PostgresInvalidIndex",
            expr='max without (severity) (pgmon_finding{check="invalid_index"}) == 1',
            levels=(Level("warning"),),
            for_="10m",
            summary="Invalid index {{ $labels.object }} in {{ $labels.target }}/"
            "{{ $labels.datname }}",
            description="Index {{ $labels.object }} of database {{ $labels.datname }} on "
            "{{ $labels.target }} is invalid: queries do not use it, yet writes may still "
            "maintain it.",
            covers=("invalid_index",),
            runbook=Runbook(
                meaning="A `CREATE INDEX CONCURRENTLY` or `REINDEX CONCURRENTLY` failed (a "
                "unique violation, a deadlock, a cancel) and left the index marked invalid. "
                "Indexes still being built are not reported.",
                confirm="```sql\nSELECT indexrelid::regclass FROM pg_index WHERE NOT "
                "indisvalid;\n```\n\n`pgmon check` (or the *Indexes & findings* dashboard) "
                "has the fix and its rollback.",
                act="`DROP INDEX CONCURRENTLY` it and build it again, or `REINDEX INDEX "
                "CONCURRENTLY`. If it was unique, remove the duplicates first.",
            ),
        ),
        Alert(
            name="PostgresCheckpointsTooFrequent",
            expr="target:pg_checkpoints_requested:rate1h * 3600 > "
            "[[checkpoints_requested_per_hour]] and target:pg_checkpoints_requested:rate1h / "
            "(target:pg_checkpoints_requested:rate1h + target:pg_checkpoints_timed:rate1h) > "
            "[[checkpoints_requested_ratio]]",
            levels=(Level("warning"),),
            for_="15m",
            summary="{{ $labels.target }} performs {{ $value | humanize }} requested "
            "checkpoints per hour",
            description="Most checkpoints on {{ $labels.target }} are requested rather than "
            "timed: WAL fills max_wal_size before checkpoint_timeout.",
            runbook=Runbook(
                meaning="A checkpoint is requested when WAL since the last one reaches "
                "`max_wal_size`. Frequent checkpoints write the same pages again and again, "
                "and each first change of a page afterwards logs a full page image, "
                "multiplying WAL volume.",
                confirm="The server's log with `log_checkpoints = on` (on by default since "
                "PG15): *checkpoint starting: wal*. The WAL rate on the *Replication* "
                "dashboard.",
                act="Raise `max_wal_size` (no restart needed) so that most checkpoints are "
                "timed; make sure the disk has room for it.",
            ),
        ),
        Alert(
            name="PostgresStatementsDeallocating",
            expr="increase(pg_stat_statements_deallocations_total[1h]) > "
            "[[statements_deallocations_per_hour]]",
            levels=(Level("info"),),
            for_="0m",
            summary="pg_stat_statements on {{ $labels.target }} evicts entries",
            description="pg_stat_statements on {{ $labels.target }} evicted its least used "
            "entries about {{ $value | humanize }} times in the last hour; query statistics "
            "are incomplete.",
            runbook=Runbook(
                meaning="pg_stat_statements holds at most `pg_stat_statements.max` entries. "
                "When full, it drops the least used ones, so statistics of rarely run (and "
                "new) statements keep disappearing.",
                confirm="`SELECT count(*) FROM pg_stat_statements;` against "
                "`SHOW pg_stat_statements.max;`, and `SELECT dealloc FROM "
                "pg_stat_statements_info;`.",
                act="Raise `pg_stat_statements.max` (restart needed), or reduce the number "
                "of distinct statements (queries built with literals instead of parameters "
                "are the usual cause).",
            ),
        ),
        Alert(
            name="PgmonCriticalFinding",
            expr='max without (severity) (pgmon_finding{severity="critical", '
            'check!~"[[covered_checks]]"}) == 1',
            levels=(Level("critical"),),
            for_="1m",
            summary="Critical finding {{ $labels.check }} on {{ $labels.target }}: "
            "{{ $labels.object }}",
            description="pgmon's {{ $labels.check }} check reports {{ $labels.object }} "
            "(database {{ $labels.datname }}) on {{ $labels.target }} as critical.",
            runbook=Runbook(
                meaning="A pgmon heuristic judged an object critical and no other alert "
                "covers that check. docs/findings.md says what each check means.",
                confirm="`pgmon check --min-severity critical` or `/findings` on pgmon's "
                "port: the message, the evidence, the fix SQL and its rollback.",
                act="Follow the finding's remediation. If the team accepts the state, add "
                "an ignore rule (`findings.ignore`) so it stops firing.",
            ),
        ),
    ),
)
