"""Maintenance checks: rows in, findings out (no database)."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from monitor.collectors import sequences, vacuum
from monitor.findings.checks.maintenance import CHECKS
from monitor.findings.model import Cluster, Finding, Node, Severity, quote_ident
from tests.collecting import collected

Sequence = namedtuple(  # type: ignore[misc]
    "Sequence",
    "datname schemaname sequencename sequence_type min_value max_value increment_by cycle "
    "last_value deptype table_schema table_name column_name column_type lower_bound "
    "upper_bound used_fraction",
)
Unreadable = namedtuple("Unreadable", "datname monitor_role unreadable schemas")  # type: ignore[misc]
Catalog = namedtuple("Catalog", "datname size_bytes connection_limit frozen_xid_age min_mxid_age")  # type: ignore[misc]
Settings = namedtuple(  # type: ignore[misc]
    "Settings", "autovacuum_freeze_max_age autovacuum_multixact_freeze_max_age"
)
Frozen = namedtuple("Frozen", "datname schemaname relname temporary xid_age mxid_age")  # type: ignore[misc]
Table = namedtuple(  # type: ignore[misc]
    "Table",
    "datname schemaname relname n_live_tup n_dead_tup n_ins_since_vacuum n_mod_since_analyze "
    "last_vacuumed autovacuum_enabled vacuum_threshold vacuum_scale_factor autovacuum "
    "stats_since now",
)

INT4 = 2**31 - 1
INT8 = 2**63 - 1
NOW = 1_800_000_000.0
DAY = 86400.0
SPECS = {check.id: check for check in CHECKS}


def seq(last: int, **changes: Any) -> Any:
    """A serial column's sequence, as queries/sequences.sql returns it."""
    row = Sequence(
        "app", "public", "orders_id_seq", "integer", 1, INT4, 1, False, last,
        "a", "public", "orders", "id", "integer", 1, INT4, (last - 1) / (INT4 - 1),
    )  # fmt: skip
    return row._replace(**changes)


def table(**changes: Any) -> Any:
    row = Table(
        "app", "public", "items", 1000, 0, 0, 0, NOW - 3600, True, 50.0, 0.2, True,
        NOW - 30 * DAY, NOW,
    )  # fmt: skip
    return row._replace(**changes)


def node(target: str = "primary", in_recovery: bool = False, **rows: list[Any]) -> Node:
    return Node(target, 170000, "7000", in_recovery, rows)


def run(check: str, *nodes: Node, **thresholds: float) -> list[Finding]:
    spec = SPECS[check]
    return list(spec.evaluate(Cluster(nodes), {**spec.defaults(), **thresholds}))


def test_quote_ident_as_postgres() -> None:
    assert quote_ident("orders") == "orders"
    assert quote_ident("Orders") == '"Orders"'
    assert quote_ident("order") == '"order"'
    assert quote_ident("name") == "name"  # unreserved keyword
    assert quote_ident('a"b') == '"a""b"'
    assert quote_ident("a$b") == '"a$b"'  # valid bare, but Postgres quotes it


# -- sequence_exhaustion ---------------------------------------------------------------


def test_serial_past_warning_and_critical() -> None:
    assert run("sequence_exhaustion", node(sequences=[seq(1_500_000_000)])) == []
    (warning,) = run("sequence_exhaustion", node(sequences=[seq(1_700_000_000)]))
    assert warning.severity is Severity.WARNING
    (critical,) = run("sequence_exhaustion", node(sequences=[seq(2_000_000_000)]))
    assert critical.severity is Severity.CRITICAL
    assert critical.object == "public.orders_id_seq"
    assert critical.evidence["values_left"] == INT4 - 2_000_000_000
    assert critical.evidence["limited_by"] == "column"
    assert critical.remediation.splitlines()[1:] == [
        "ALTER TABLE public.orders ALTER COLUMN id TYPE bigint;",
        "ALTER SEQUENCE public.orders_id_seq AS bigint NO MAXVALUE;",
    ]
    assert critical.rollback.splitlines() == [
        "ALTER SEQUENCE public.orders_id_seq AS integer MAXVALUE 2147483647;",
        "-- rewrites the table again, and fails once a value no longer fits",
        "ALTER TABLE public.orders ALTER COLUMN id TYPE integer;",
    ]


def test_bigint_column_fed_past_two_to_the_31_is_fine() -> None:
    row = seq(
        3_000_000_000,
        sequence_type="bigint",
        max_value=INT8,
        column_type="bigint",
        upper_bound=INT8,
        used_fraction=3e9 / INT8,
    )
    assert run("sequence_exhaustion", node(sequences=[row])) == []


def test_identity_column_needs_only_the_column_changed() -> None:
    row = seq(2_000_000_000, deptype="i")
    (found,) = run("sequence_exhaustion", node(sequences=[row]))
    assert "ALTER SEQUENCE" not in found.remediation
    assert "ALTER COLUMN id TYPE bigint;" in found.remediation


def test_sequence_limited_by_itself_under_a_wider_column() -> None:
    row = seq(
        30000, sequence_type="smallint", max_value=32767, upper_bound=32767,
        used_fraction=29999 / 32766,
    )  # fmt: skip
    (found,) = run("sequence_exhaustion", node(sequences=[row]))
    assert found.evidence["limited_by"] == "sequence"
    # Not past the integer column it feeds.
    assert found.remediation == "ALTER SEQUENCE public.orders_id_seq AS integer NO MAXVALUE;"
    assert found.rollback == "ALTER SEQUENCE public.orders_id_seq AS smallint MAXVALUE 32767;"
    # A cycling sequence limited by itself starts over by design.
    assert run("sequence_exhaustion", node(sequences=[row._replace(cycle=True)])) == []


def test_descending_sequence_towards_its_minimum() -> None:
    row = seq(
        -2_000_000_000, increment_by=-1, min_value=-(2**31), max_value=-1,
        lower_bound=-(2**31), upper_bound=-1, used_fraction=(2e9 - 1) / (2**31 - 1),
    )  # fmt: skip
    (found,) = run("sequence_exhaustion", node(sequences=[row]))
    assert found.evidence["limit"] == -(2**31)
    assert "AS bigint NO MINVALUE;" in found.remediation


def test_unreadable_sequences_reported_once_per_database() -> None:
    rows = [Unreadable("app", "pgmon", 12, ["public", "Sales"]), Unreadable("b", "pgmon", 0, None)]
    (found,) = run("sequence_exhaustion", node(sequences_unreadable=rows))
    assert found.severity is Severity.INFO
    assert found.message.startswith("not evaluated: no privilege")
    assert found.evidence["unreadable_sequences"] == 12
    assert found.remediation.splitlines() == [
        "GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO pgmon;",
        'GRANT SELECT ON ALL SEQUENCES IN SCHEMA "Sales" TO pgmon;',
    ]


def test_judged_on_the_primary_only() -> None:
    rows = [seq(2_000_000_000)]
    found = run(
        "sequence_exhaustion",
        node("standby", True, sequences=rows),
        node("primary", sequences=rows),
    )
    assert [f.target for f in found] == ["primary"]
    # Without the primary among the targets, the standby speaks for the cluster.
    (alone,) = run("sequence_exhaustion", node("standby", True, sequences=rows))
    assert alone.target == "standby"


# -- xid_wraparound, multixact_wraparound ----------------------------------------------

SETTINGS = [Settings(200_000_000, 400_000_000)]


def wrap_node(xid_age: int, mxid_age: int = 5) -> Node:
    return node(
        database_catalog=[Catalog("app", 1, -1, xid_age, mxid_age)],
        database_settings=SETTINGS,
        vacuum_freeze=[
            Frozen("app", "public", "old", False, xid_age, mxid_age),
            Frozen("app", "pg_temp_3", "scratch", True, xid_age - 1, 1),
            Frozen("other", "public", "elsewhere", False, xid_age, 1),
        ],
    )


def test_xid_wraparound_levels() -> None:
    assert run("xid_wraparound", wrap_node(150_000_000)) == []
    (info,) = run("xid_wraparound", wrap_node(250_000_000))
    assert info.severity is Severity.INFO
    (warning,) = run("xid_wraparound", wrap_node(1_200_000_000))
    assert warning.severity is Severity.WARNING
    (critical,) = run("xid_wraparound", wrap_node(1_700_000_000))
    assert critical.severity is Severity.CRITICAL
    assert critical.object == "app"
    assert critical.evidence["oldest_tables"] == {
        "public.old": 1_700_000_000,
        "pg_temp_3.scratch": 1_699_999_999,
    }
    assert critical.evidence["left_before_stop"] == INT4 - 3_000_000 - 1_700_000_000
    assert critical.remediation.splitlines() == [
        "VACUUM (FREEZE, VERBOSE) public.old;",
        "-- pg_temp_3.scratch is another session's temporary table: end that session",
    ]
    assert critical.rollback == ""


def test_multixact_wraparound_reads_multixact_ages() -> None:
    assert run("multixact_wraparound", wrap_node(1_700_000_000, mxid_age=300_000_000)) == []
    (found,) = run("multixact_wraparound", wrap_node(10, mxid_age=1_200_000_000))
    assert found.severity is Severity.WARNING
    assert found.evidence["freeze_max_age"] == 400_000_000


def test_wraparound_without_table_rows_freezes_the_database() -> None:
    bare = node(database_catalog=[Catalog("app", 1, -1, 1_700_000_000, 1)])
    (found,) = run("xid_wraparound", bare)
    assert found.remediation.endswith("VACUUM (FREEZE, VERBOSE);")


# -- dead_tuples, vacuum_stale ---------------------------------------------------------


def test_dead_tuples_levels() -> None:
    assert run("dead_tuples", node(vacuum=[table(n_live_tup=100_000, n_dead_tup=40_000)])) == []
    (warning,) = run("dead_tuples", node(vacuum=[table(n_live_tup=100_000, n_dead_tup=60_000)]))
    assert warning.severity is Severity.WARNING
    assert warning.remediation == "VACUUM (VERBOSE, ANALYZE) public.items;"
    (critical,) = run("dead_tuples", node(vacuum=[table(n_live_tup=5000, n_dead_tup=15000)]))
    assert critical.severity is Severity.CRITICAL
    # Few dead rows never count, whatever the ratio.
    assert run("dead_tuples", node(vacuum=[table(n_live_tup=10, n_dead_tup=9000)])) == []


def test_dead_tuples_respects_a_table_scale_factor() -> None:
    row = table(n_live_tup=100_000, n_dead_tup=60_000, vacuum_scale_factor=0.8)
    assert run("dead_tuples", node(vacuum=[row])) == []


def test_dead_tuples_on_the_primary_only() -> None:
    rows = [table(n_live_tup=5000, n_dead_tup=15000)]
    assert run("dead_tuples", node("standby", True, vacuum=rows)) == []


def test_autovacuum_disabled_always_reported() -> None:
    (found,) = run("vacuum_stale", node(vacuum=[table(autovacuum_enabled=False)]))
    assert found.severity is Severity.WARNING
    assert found.remediation == "ALTER TABLE public.items RESET (autovacuum_enabled);"
    assert found.rollback == "ALTER TABLE public.items SET (autovacuum_enabled = false);"


def test_vacuum_stale_needs_changes_past_the_trigger_and_time() -> None:
    due = table(n_dead_tup=3000, n_ins_since_vacuum=1000, last_vacuumed=NOW - 8 * DAY)
    (found,) = run("vacuum_stale", node(vacuum=[due]))
    assert found.evidence["changed_rows"] == 4000
    assert found.evidence["last_vacuum_age_seconds"] == 8 * DAY
    assert run("vacuum_stale", node(vacuum=[due._replace(last_vacuumed=NOW - DAY)])) == []
    not_due = due._replace(n_live_tup=1_000_000)  # under 50 + 0.2 * 1M
    assert run("vacuum_stale", node(vacuum=[not_due])) == []
    never = due._replace(last_vacuumed=None)
    (found,) = run("vacuum_stale", node(vacuum=[never]))
    assert "since statistics began 30.0 days ago" in found.message


def test_autovacuum_off_for_the_server() -> None:
    found = run("vacuum_stale", node(vacuum=[table(autovacuum=False)]))
    assert [f.object for f in found] == [""]
    assert found[0].remediation.startswith("ALTER SYSTEM SET autovacuum = on;")


# -- the collectors' own metrics -------------------------------------------------------


def test_collector_metrics() -> None:
    got = collected(
        sequences.SPEC,
        [
            *sequences.used_samples("app", [seq(2_000_000_000), seq(5)]),
            *sequences.unreadable_samples([Unreadable("app", "pgmon", 3, ["public"])]),
        ],
    )
    assert got.value("pg_sequences_max_used_ratio", datname="app") > 0.93
    assert got.value("pg_sequences_unreadable", datname="app") == 3
    got = collected(
        vacuum.SPEC,
        [
            *vacuum.table_samples("app", [table(), table(autovacuum_enabled=False)]),
            *vacuum.freeze_samples("app", [Frozen("app", "public", "t", False, 77, 1)]),
        ],
    )
    assert got.value("pg_vacuum_autovacuum_disabled_tables", datname="app") == 1
    assert got.value("pg_vacuum_oldest_table_xid_age", datname="app") == 77
