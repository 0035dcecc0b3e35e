"""Maintenance findings on real servers: sequences pushed near their limit with setval (read
by a role with pg_read_all_data, and not evaluated for the pg_monitor-only role), wraparound
ages with lowered thresholds, dead rows, autovacuum disabled and tables never vacuumed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from psycopg import sql

from monitor.collectors import vacuum
from monitor.findings.model import Finding, Severity
from tests.findings import of_check, run_checks
from tests.pgserver import MONITOR_ROLE, Cluster
from tests.scratchdb import NO_AUTOVACUUM, Database, new_database


@pytest.fixture(scope="module")
def module_db(pg_cluster: Cluster) -> Iterator[Database]:
    with new_database(pg_cluster.primary, "pgmon_maintenance") as name:
        yield Database(pg_cluster.primary, name, vacuum.SPEC)


@pytest.fixture
def db(module_db: Database) -> Iterator[Database]:
    yield module_db
    module_db.empty()


@pytest.fixture(scope="module")
def reader(pg_cluster: Cluster) -> Iterator[str]:
    """A monitoring role that may read sequence values: pg_monitor plus pg_read_all_data."""
    name = f"pgmon_reader_{uuid.uuid4().hex[:8]}"
    pg_cluster.primary.execute(
        sql.SQL("CREATE ROLE {} LOGIN IN ROLE pg_monitor, pg_read_all_data").format(
            sql.Identifier(name)
        )
    )
    try:
        yield name
    finally:
        pg_cluster.primary.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def findings(
    db: Database, check: str, user: str = MONITOR_ROLE, **thresholds: float
) -> dict[str, Finding]:
    """The findings of `check` in the scratch database, by object."""
    result = run_checks(
        {"primary": db.server.dsn(db.name, user=user)}, {check: thresholds} if thresholds else {}
    )
    assert result.unreachable == []
    return {f.object: f for f in of_check(result.findings, check) if f.datname == db.name}


# -- sequence_exhaustion ---------------------------------------------------------------


def plant_sequences(db: Database) -> None:
    db.run(
        "CREATE TABLE orders (id serial PRIMARY KEY)",
        "CREATE TABLE wide (id bigserial PRIMARY KEY)",
        "CREATE TABLE ident (id int GENERATED ALWAYS AS IDENTITY)",
        "CREATE SEQUENCE free_standing AS smallint",
        "SELECT setval('orders_id_seq', 2000000000)",  # 93% of integer
        "SELECT setval('wide_id_seq', 3000000000)",  # past 2^31, but the column is bigint
        "SELECT setval(pg_get_serial_sequence('ident', 'id'), 1700000000)",  # 79%
        "SELECT setval('free_standing', 30000)",  # 92% of its own smallint range
    )


def test_sequences_near_their_limit(db: Database, reader: str) -> None:
    plant_sequences(db)
    found = findings(db, "sequence_exhaustion", user=reader)
    assert set(found) == {"public.orders_id_seq", "public.ident_id_seq", "public.free_standing"}
    orders = found["public.orders_id_seq"]
    assert orders.severity is Severity.CRITICAL
    assert orders.evidence["limit"] == 2**31 - 1
    assert orders.evidence["column"] == "public.orders.id"
    assert orders.evidence["limited_by"] == "column"
    assert "ALTER TABLE public.orders ALTER COLUMN id TYPE bigint;" in orders.remediation
    assert "ALTER SEQUENCE public.orders_id_seq AS bigint NO MAXVALUE;" in orders.remediation
    assert found["public.ident_id_seq"].severity is Severity.WARNING
    free = found["public.free_standing"]
    assert free.severity is Severity.CRITICAL
    assert free.evidence["limited_by"] == "sequence"
    assert free.remediation == "ALTER SEQUENCE public.free_standing AS bigint NO MAXVALUE;"

    # The remediation works, and so does its rollback (the values still fit).
    db.run(orders.remediation, found["public.ident_id_seq"].remediation, free.remediation)
    assert findings(db, "sequence_exhaustion", user=reader) == {}
    db.run(orders.rollback, free.rollback)
    assert set(findings(db, "sequence_exhaustion", user=reader)) == {
        "public.orders_id_seq",
        "public.free_standing",
    }


def test_sequences_not_readable_by_pg_monitor_are_not_evaluated(db: Database) -> None:
    plant_sequences(db)
    found = findings(db, "sequence_exhaustion")
    assert list(found) == [db.name]  # one finding for the database, none per sequence
    summary = found[db.name]
    assert summary.severity is Severity.INFO
    assert summary.message.startswith("not evaluated: no privilege")
    assert summary.evidence["unreadable_sequences"] == 4
    assert (
        summary.remediation == f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {MONITOR_ROLE};"
    )
    db.run(summary.remediation)
    try:
        assert set(findings(db, "sequence_exhaustion")) == {
            "public.orders_id_seq",
            "public.ident_id_seq",
            "public.free_standing",
        }
    finally:
        db.run(summary.rollback.splitlines()[-1])


# -- xid_wraparound, multixact_wraparound ----------------------------------------------


def make_multixact(db: Database) -> None:
    """Two transactions share a row lock: the row's locker becomes a multixact."""
    db.run(
        "CREATE TABLE shared (id int PRIMARY KEY)",
        "INSERT INTO shared VALUES (1)",
    )
    first = db.server.connect(db.name)
    second = db.server.connect(db.name)
    with first, second:
        first.autocommit = second.autocommit = False
        first.execute("SELECT * FROM shared FOR SHARE")
        second.execute("SELECT * FROM shared FOR SHARE")
        first.commit()
        second.commit()


@pytest.mark.parametrize("check", ["xid_wraparound", "multixact_wraparound"])
def test_wraparound_with_thresholds_at_zero(db: Database, check: str) -> None:
    make_multixact(db)
    assert db.name not in findings(db, check)  # a fresh cluster is nowhere near
    found = findings(db, check, warning_fraction=0.0, critical_fraction=0.0)
    finding = found[db.name]
    assert finding.severity is Severity.CRITICAL
    assert finding.evidence["database_age"] > 0
    assert finding.evidence["wraparound_limit"] == 2**31 - 1
    assert finding.evidence["oldest_tables"]
    assert "VACUUM (FREEZE, VERBOSE) " in finding.remediation
    assert finding.rollback == ""
    db.run(*finding.remediation.splitlines())  # runs as written


# -- dead_tuples, vacuum_stale ---------------------------------------------------------


def test_dead_rows_and_autovacuum_disabled(db: Database) -> None:
    db.run(
        f"CREATE TABLE churn (id int PRIMARY KEY, v text) {NO_AUTOVACUUM}",
        "INSERT INTO churn SELECT g, 'x' FROM generate_series(1, 20000) g",
        "DELETE FROM churn WHERE id <= 15000",
        f"CREATE TABLE calm (id int PRIMARY KEY) {NO_AUTOVACUUM}",
        "INSERT INTO calm SELECT generate_series(1, 20000)",
        "DELETE FROM calm WHERE id <= 100",  # too few dead rows to matter
    )
    dead = findings(db, "dead_tuples")
    assert set(dead) == {"public.churn"}
    churn = dead["public.churn"]
    assert churn.severity is Severity.CRITICAL  # 15000 dead for 5000 live
    assert churn.evidence["n_dead_tup"] == 15000
    assert churn.evidence["n_live_tup"] == 5000
    assert churn.remediation == "VACUUM (VERBOSE, ANALYZE) public.churn;"

    stale = findings(db, "vacuum_stale")
    assert set(stale) == {"public.churn", "public.calm"}  # autovacuum disabled, both
    assert stale["public.calm"].severity is Severity.WARNING
    assert stale["public.calm"].remediation == "ALTER TABLE public.calm RESET (autovacuum_enabled);"

    db.run(churn.remediation, stale["public.calm"].remediation)
    assert findings(db, "dead_tuples") == {}
    assert set(findings(db, "vacuum_stale")) == {"public.churn"}
    db.run(stale["public.calm"].rollback)
    assert set(findings(db, "vacuum_stale")) == {"public.churn", "public.calm"}


def test_table_not_vacuumed_since_changes(db: Database) -> None:
    db.run(
        "CREATE TABLE fresh (id int)",
        "INSERT INTO fresh SELECT generate_series(1, 100)",  # past 50 + 0.2 * 100
        "CREATE TABLE cleaned (id int)",
        "INSERT INTO cleaned SELECT generate_series(1, 100)",
    )
    db.run("VACUUM cleaned")  # after the inserts' statistics are flushed, or they count again
    assert findings(db, "vacuum_stale") == {}  # not for a week yet
    found = findings(db, "vacuum_stale", max_age_seconds=0.0, min_changed_rows=1.0)
    assert set(found) == {"public.fresh"}
    fresh = found["public.fresh"]
    assert fresh.evidence["changed_rows"] == 100
    assert fresh.evidence["last_vacuum_age_seconds"] is None
    assert fresh.remediation == "VACUUM (VERBOSE, ANALYZE) public.fresh;"
