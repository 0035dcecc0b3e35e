"""Bloat findings on real servers: a table and its primary key emptied to a fifth by a DELETE
spread over every page and a plain VACUUM (the pages stay allocated, the estimate sees the
waste), next to a freshly loaded and analyzed table that must not be reported. Thresholds
are lowered so that tables of a few MiB count."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.collectors import bloat
from monitor.findings.model import Finding, Severity
from tests.findings import of_check, run_checks
from tests.pgserver import MONITOR_ROLE, Cluster, wait_for_replay
from tests.scratchdb import NO_AUTOVACUUM, Database, new_database

MIB = 1024.0**2
LOW = {"min_size_bytes": MIB, "min_wasted_bytes": MIB}
ROWS = 200_000


@pytest.fixture(scope="module")
def db(pg_cluster: Cluster) -> Iterator[Database]:
    with new_database(pg_cluster.primary, "pgmon_bloat") as name:
        database = Database(pg_cluster.primary, name, bloat.SPEC)
        load = f"SELECT g, repeat('x', 100) FROM generate_series(1, {ROWS}) g"
        database.run(
            f"CREATE TABLE emptied (id int PRIMARY KEY, payload text) {NO_AUTOVACUUM}",
            f"CREATE TABLE fresh (id int PRIMARY KEY, payload text) {NO_AUTOVACUUM}",
            f"INSERT INTO emptied {load}",
            f"INSERT INTO fresh {load}",
            "ANALYZE emptied",
            "DELETE FROM emptied WHERE id % 5 <> 0",  # every page keeps a fifth: no truncation
            "VACUUM emptied",
            "ANALYZE emptied",
            "ANALYZE fresh",
            # pg_stats shows the monitoring role only the columns it may read
            f"GRANT SELECT ON emptied, fresh TO {MONITOR_ROLE}",
        )
        wait_for_replay(pg_cluster.primary, pg_cluster.replica)
        yield database


def findings(
    pg_cluster: Cluster, db: Database, check: str, **thresholds: float
) -> dict[str, Finding]:
    targets = {
        "primary": db.server.dsn(db.name, user=MONITOR_ROLE),
        "replica": pg_cluster.replica.dsn(db.name, user=MONITOR_ROLE),
    }
    result = run_checks(targets, {check: {**LOW, **thresholds}})
    assert result.unreachable == []
    found = [f for f in of_check(result.findings, check) if f.datname == db.name]
    assert {f.target for f in found} <= {"primary"}  # once per cluster, on the primary
    return {f.object: f for f in found}


def test_emptied_table_is_bloated_fresh_one_is_not(pg_cluster: Cluster, db: Database) -> None:
    found = findings(pg_cluster, db, "table_bloat", critical_ratio=0.9)
    assert set(found) == {"public.emptied"}
    emptied = found["public.emptied"]
    assert emptied.severity is Severity.WARNING  # about four fifths wasted
    evidence = emptied.evidence
    assert evidence["reltuples"] == ROWS / 5
    assert 0.7 < evidence["wasted_ratio"] < 0.85
    assert evidence["actual_bytes"] == evidence["expected_bytes"] + evidence["wasted_bytes"]
    assert evidence["last_analyze_age_seconds"] is not None
    assert emptied.remediation.endswith("VACUUM (FULL, VERBOSE) public.emptied;")
    assert emptied.rollback == ""
    assert (
        findings(pg_cluster, db, "table_bloat", critical_ratio=0.7)["public.emptied"].severity
        is Severity.CRITICAL
    )
    assert findings(pg_cluster, db, "table_bloat", warning_ratio=0.9, critical_ratio=0.95) == {}


def test_emptied_index_is_bloated_fresh_one_is_not(pg_cluster: Cluster, db: Database) -> None:
    found = findings(pg_cluster, db, "index_bloat")
    assert set(found) == {"public.emptied_pkey"}
    index = found["public.emptied_pkey"]
    assert index.evidence["table"] == "public.emptied"
    assert index.evidence["wasted_ratio"] > 0.7
    assert index.remediation == "REINDEX INDEX CONCURRENTLY public.emptied_pkey;"


def test_fresh_estimates_are_close(pg_cluster: Cluster, db: Database) -> None:
    """A freshly loaded table and index are estimated within a few percent of their size."""
    tables = findings(pg_cluster, db, "table_bloat", warning_ratio=0.05, min_wasted_bytes=0)
    assert set(tables) == {"public.emptied"}
    indexes = findings(pg_cluster, db, "index_bloat", warning_ratio=0.1, min_wasted_bytes=0)
    assert set(indexes) == {"public.emptied_pkey"}


def test_tables_hidden_from_the_role_are_reported_as_not_evaluated(pg_cluster: Cluster) -> None:
    with new_database(pg_cluster.primary, "pgmon_bloat_hidden") as name:
        database = Database(pg_cluster.primary, name, bloat.SPEC)
        database.run(
            "CREATE TABLE secret (id int PRIMARY KEY, payload text)",
            f"INSERT INTO secret SELECT g, repeat('x', 100) FROM generate_series(1, {ROWS}) g",
            "ANALYZE secret",
        )
        result = run_checks(
            {"primary": pg_cluster.primary.dsn(name, user=MONITOR_ROLE)}, {"table_bloat": LOW}
        )
    found = [f for f in of_check(result.findings, "table_bloat") if f.datname == name]
    assert len(found) == 1, found
    assert found[0].message.startswith("not evaluated")
    assert found[0].evidence["hidden_tables"] == 1
