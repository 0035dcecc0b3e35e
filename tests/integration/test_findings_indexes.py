"""Index findings on real servers. One scratch database holds every planted case; the checks
run twice per server version: with the primary and its streaming replica as targets, and
with the primary alone, while a CREATE INDEX CONCURRENTLY waits behind an open transaction.

Planted: an unused index, one scanned only on the replica, indexes backing a primary key,
a unique constraint, an exclusion constraint and the replica identity, a tiny unused
index, a partitioned index whose partitions are each below the size threshold but not
together, duplicates (one of them of a unique constraint), a partial index beside a full
one, a prefix (c8 under c8, c9) and a non-prefix (column 1 against columns 12, 2), a failed
unique CREATE INDEX CONCURRENTLY, and foreign keys without an index, with an index on
their columns in another order, and with only a partial index.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pytest

from monitor.collectors import index_catalog
from monitor.findings.model import Finding, Severity
from tests.daemon import wait_for
from tests.findings import of_check, run_checks
from tests.pgserver import MONITOR_ROLE, Cluster, wait_for_replay
from tests.scratchdb import NO_AUTOVACUUM, Database, new_database

ROWS = 60_000  # an int btree index of this many rows is about 1.3 MiB: above 1 MiB
WIDE = ", ".join(f"c{i} int" for i in range(1, 13))  # column cN has attnum N
THRESHOLDS = {"missing_fk_index": {"min_table_size_bytes": 0.0}}


@dataclass
class Results:
    db: Database
    with_replica: list[Finding]
    primary_only: list[Finding]

    def found(self, check: str, replica: bool = True) -> dict[str, Finding]:
        findings = self.with_replica if replica else self.primary_only
        return {f.object: f for f in of_check(findings, check) if f.datname == self.db.name}


def plant(db: Database) -> None:
    db.run(
        f"CREATE TABLE items (id int PRIMARY KEY, {WIDE}, r int4range, "
        f"EXCLUDE USING gist (r WITH &&)) {NO_AUTOVACUUM}",
        f"INSERT INTO items SELECT g, {', '.join(['g'] * 12)}, int4range(g, g + 1) "
        f"FROM generate_series(1, {ROWS}) g",
        "ALTER TABLE items ADD CONSTRAINT items_c6_key UNIQUE (c6)",
        "ALTER TABLE items ALTER COLUMN c11 SET NOT NULL",
        "CREATE UNIQUE INDEX items_c11_ident ON items (c11)",
        "ALTER TABLE items REPLICA IDENTITY USING INDEX items_c11_ident",
        "CREATE INDEX items_c3_unused ON items (c3)",
        "CREATE INDEX items_c4_standby ON items (c4)",
        "CREATE INDEX items_c5 ON items (c5)",
        "CREATE INDEX items_c5_dup ON items (c5)",
        "CREATE INDEX items_c6 ON items (c6)",
        "CREATE INDEX items_c7 ON items (c7)",
        "CREATE INDEX items_c7_part ON items (c7) WHERE c7 > 10",
        "CREATE INDEX items_c8 ON items (c8)",
        "CREATE INDEX items_c8_c9 ON items (c8, c9)",
        "CREATE INDEX items_c1 ON items (c1)",
        "CREATE INDEX items_c12_c2 ON items (c12, c2)",
        "INSERT INTO items (id, c10, c11) VALUES (0, 1, 0)",
        f"CREATE TABLE tiny (v int) {NO_AUTOVACUUM}",
        "INSERT INTO tiny SELECT generate_series(1, 100)",
        "CREATE INDEX tiny_v ON tiny (v)",
        "CREATE TABLE events (id int, v int) PARTITION BY RANGE (id)",
        f"CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO ({ROWS // 2})",
        f"CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM ({ROWS // 2}) TO ({ROWS})",
        f"INSERT INTO events SELECT g, g FROM generate_series(0, {ROWS - 1}) g",
        "CREATE INDEX events_v ON events (v)",
        "CREATE TABLE parents (id int PRIMARY KEY, x int, UNIQUE (id, x))",
        "INSERT INTO parents SELECT g, g FROM generate_series(1, 100) g",
        f"CREATE TABLE fk_none (pid int REFERENCES parents) {NO_AUTOVACUUM}",
        f"CREATE TABLE fk_reordered (pid int, px int, FOREIGN KEY (pid, px) "
        f"REFERENCES parents (id, x)) {NO_AUTOVACUUM}",
        "CREATE INDEX fk_reordered_px_pid ON fk_reordered (px, pid)",
        f"CREATE TABLE fk_partial (pid int REFERENCES parents) {NO_AUTOVACUUM}",
        "CREATE INDEX fk_partial_pid ON fk_partial (pid) WHERE pid > 50",
        f"CREATE TABLE slow (v int) {NO_AUTOVACUUM}",
    )
    # c10 has 1 twice now: the unique index fails and stays behind, invalid.
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.run("CREATE UNIQUE INDEX CONCURRENTLY items_c10_invalid ON items (c10)")


def scan_on_replica(pg_cluster: Cluster, db: Database) -> None:
    wait_for_replay(pg_cluster.primary, pg_cluster.replica)
    with pg_cluster.replica.connect(db.name) as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_bitmapscan = off")
        conn.execute("SELECT c4 FROM items WHERE c4 = 7").fetchall()
        conn.execute("SELECT pg_stat_force_next_flush()")
    scans = "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'items_c4_standby'"
    wait_for(
        lambda: pg_cluster.replica.scalar(scans, dbname=db.name) == 1,
        10,
        "the replica's scan of items_c4_standby",
    )


@pytest.fixture(scope="module")
def found(pg_cluster: Cluster) -> Iterator[Results]:
    primary, replica = pg_cluster.primary, pg_cluster.replica
    with new_database(primary, "pgmon_findings_indexes") as name:
        db = Database(primary, name, index_catalog.SPEC)
        plant(db)
        scan_on_replica(pg_cluster, db)
        with building_index(db):
            targets = {
                "primary": primary.dsn(name, user=MONITOR_ROLE),
                "replica": replica.dsn(name, user=MONITOR_ROLE),
            }
            both = run_checks(targets, THRESHOLDS)
            alone = run_checks({"primary": targets["primary"]}, THRESHOLDS)
        assert both.unreachable == [] and alone.unreachable == []
        yield Results(db, both.findings, alone.findings)


@contextmanager
def building_index(db: Database) -> Iterator[None]:
    """A CREATE INDEX CONCURRENTLY on `slow` waiting behind a transaction that wrote to it."""
    errors: list[BaseException] = []

    def build() -> None:
        try:
            with db.server.connect(db.name) as conn:
                conn.execute("CREATE INDEX CONCURRENTLY slow_v ON slow (v)")
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    def in_progress() -> bool:
        return bool(
            db.scalar(
                "SELECT EXISTS (SELECT FROM pg_stat_progress_create_index "
                "WHERE index_relid = to_regclass('slow_v'))"
            )
        )

    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'slow_v'::regclass"
    with db.server.connect(db.name) as writer:
        writer.autocommit = False
        writer.execute("INSERT INTO slow VALUES (1)")
        thread = threading.Thread(target=build)
        thread.start()
        try:
            wait_for(in_progress, 10, "CREATE INDEX CONCURRENTLY slow_v in progress")
            assert not db.scalar(valid)
            yield
        finally:
            writer.commit()
            thread.join(30)
    assert errors == []
    assert db.scalar(valid)


# -- unused_index -----------------------------------------------------------------------


def test_unused_index_on_every_node(found: Results) -> None:
    unused = found.found("unused_index")
    finding = unused["public.items_c3_unused"]
    # The scratch database's statistics are as young as the server: too early to be sure.
    assert finding.severity is Severity.INFO
    assert finding.evidence["replicas"] == "replica"
    assert finding.evidence["stats_since"] == "server start"
    assert finding.evidence["size_bytes"] >= 1024 * 1024
    assert finding.remediation == "DROP INDEX CONCURRENTLY public.items_c3_unused;"
    assert finding.rollback == (
        "CREATE INDEX CONCURRENTLY items_c3_unused ON public.items USING btree (c3);"
    )


def test_index_used_only_on_the_standby(found: Results) -> None:
    assert "public.items_c4_standby" not in found.found("unused_index")
    alone = found.found("unused_index", replica=False)
    assert alone["public.items_c4_standby"].evidence["replicas"].startswith("not checked")
    assert "standbys were not checked" in alone["public.items_c4_standby"].message


def test_constraint_backed_tiny_and_building_indexes_are_not_unused(found: Results) -> None:
    unused = found.found("unused_index")
    for name in ("items_pkey", "items_r_excl", "items_c6_key", "items_c11_ident", "tiny_v"):
        assert f"public.{name}" not in unused
    assert "public.slow_v" not in unused


def test_partitioned_index_is_reported_once_for_all_partitions(found: Results) -> None:
    unused = found.found("unused_index")
    events = unused["public.events_v"]
    assert events.evidence["index_partitions"] == 2
    assert not any(
        name.startswith("public.events_") and name != "public.events_v" for name in unused
    )
    assert events.remediation.endswith("\nDROP INDEX public.events_v;")
    assert events.rollback.endswith("\nCREATE INDEX events_v ON public.events USING btree (v);")


# -- duplicate_index and redundant_index ------------------------------------------------


def test_duplicates(found: Results) -> None:
    duplicates = found.found("duplicate_index")
    assert set(duplicates) == {"public.items_c5_dup", "public.items_c6"}
    assert duplicates["public.items_c5_dup"].evidence["duplicate_of"] == "public.items_c5"
    constraint = duplicates["public.items_c6"]
    assert constraint.evidence["duplicate_of"] == "public.items_c6_key"
    assert constraint.remediation == "DROP INDEX CONCURRENTLY public.items_c6;"


def test_redundant_prefix_but_not_column_1_against_12(found: Results) -> None:
    assert set(found.found("redundant_index")) == {"public.items_c8"}


# -- invalid_index ----------------------------------------------------------------------


def test_invalid_index_but_not_one_being_built(found: Results) -> None:
    invalid = found.found("invalid_index")
    assert set(invalid) == {"public.items_c10_invalid"}
    assert invalid["public.items_c10_invalid"].remediation == (
        "DROP INDEX CONCURRENTLY public.items_c10_invalid;\n"
        "CREATE UNIQUE INDEX CONCURRENTLY items_c10_invalid ON public.items USING btree (c10);"
    )


# -- missing_fk_index -------------------------------------------------------------------


def test_foreign_keys_without_a_usable_index(found: Results) -> None:
    missing = found.found("missing_fk_index")
    assert set(missing) == {
        "public.fk_none.fk_none_pid_fkey",
        "public.fk_partial.fk_partial_pid_fkey",
    }
    none = missing["public.fk_none.fk_none_pid_fkey"]
    assert none.remediation == "CREATE INDEX CONCURRENTLY fk_none_pid_idx ON public.fk_none (pid);"
    assert none.rollback == "DROP INDEX CONCURRENTLY public.fk_none_pid_idx;"


# -- the SQL works (last: it changes the database) -----------------------------------------


def test_remediation_and_rollback_run(found: Results) -> None:
    db = found.db
    unused = found.found("unused_index")["public.items_c3_unused"]
    before = db.scalar("SELECT pg_get_indexdef('items_c3_unused'::regclass)")
    db.run(unused.remediation)
    assert db.scalar("SELECT to_regclass('items_c3_unused')") is None
    db.run(unused.rollback)
    assert db.scalar("SELECT pg_get_indexdef('items_c3_unused'::regclass)") == before

    events = found.found("unused_index")["public.events_v"]
    before = db.scalar("SELECT pg_get_indexdef('events_v'::regclass)")
    db.run(events.remediation)
    db.run(events.rollback)
    assert db.scalar("SELECT pg_get_indexdef('events_v'::regclass)") == before
    assert db.scalar(
        "SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'events'::regclass"
    )

    missing = found.found("missing_fk_index")["public.fk_none.fk_none_pid_fkey"]
    db.run(missing.remediation)
    assert db.scalar(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'fk_none_pid_idx'::regclass"
    )
    db.run(missing.rollback)
    assert db.scalar("SELECT to_regclass('fk_none_pid_idx')") is None
