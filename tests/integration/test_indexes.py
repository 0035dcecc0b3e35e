"""indexes collector on real servers: scans on one index and not another, unique, primary
and invalid indexes, the top-N bound with its remainder, locked indexes, sizes measured
again after writes, a second database."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from monitor.collectors import indexes
from monitor.collectors.base import UNCHANGED_MAX_AGE_SECONDS
from monitor.collectors.sizes import MeasuredSizes
from tests.collecting import WAL_POSITION, collect, value, without_wal
from tests.daemon import wait_for
from tests.pgserver import Cluster
from tests.scratchdb import NO_AUTOVACUUM, Database, scratch_database, session

# Plain index scans only: a bitmap scan does not count idx_tup_fetch.
INDEX_SCANS = {"enable_seqscan": "off", "enable_bitmapscan": "off"}


@pytest.fixture(scope="module")
def module_db(pg_cluster: Cluster) -> Iterator[Database]:
    with scratch_database(pg_cluster.primary, "pgmon_indexes", indexes.SPEC) as db:
        yield db


@pytest.fixture
def db(module_db: Database) -> Iterator[Database]:
    """The scratch database, emptied after each test so rankings see only its indexes."""
    yield module_db
    module_db.empty()


def labels(db: Database, relname: str, indexrelname: str) -> dict[str, str]:
    return {
        "datname": db.name,
        "schemaname": "public",
        "relname": relname,
        "indexrelname": indexrelname,
    }


def test_scans_on_one_index_and_not_the_other(pg_cluster: Cluster, db: Database) -> None:
    db.run(
        f"CREATE TABLE pairs (a int, b int) {NO_AUTOVACUUM}",
        "INSERT INTO pairs SELECT g, g FROM generate_series(1, 2000) g",
        "CREATE INDEX pairs_a ON pairs (a)",
        "CREATE INDEX pairs_b ON pairs (b)",
    )
    before = time.time()
    db.run(*["SELECT * FROM pairs WHERE a BETWEEN 10 AND 14"] * 3, **INDEX_SCANS)
    a, b = labels(db, "pairs", "pairs_a"), labels(db, "pairs", "pairs_b")
    # The stats of the session are flushed when it ends its last statement; wait a little
    # in case a busy server publishes them late.
    got = wait_for(
        lambda: (g := db.collect()).value("pg_stat_user_indexes_scans_total", **a) == 3 and g,
        10,
        "three scans of pairs_a",
    )
    assert value(got, "pg_stat_user_indexes_scans_total", **b) == 0
    assert value(got, "pg_stat_user_indexes_tuples_read_total", **a) == 15
    assert value(got, "pg_stat_user_indexes_tuples_fetched_total", **a) == 15
    assert value(got, "pg_stat_user_indexes_tuples_read_total", **b) == 0
    size = db.scalar("SELECT pg_total_relation_size('pairs_a')")
    assert value(got, "pg_stat_user_indexes_size_bytes", **a) == size
    for flag in ("pg_index_is_unique", "pg_index_is_primary"):
        assert value(got, flag, **a) == 0
    assert value(got, "pg_index_is_valid", **a) == 1
    last_scan = got.value("pg_stat_user_indexes_last_scan_timestamp_seconds", **a)
    if int(pg_cluster.major) >= 16:
        assert last_scan is not None and before - 1 <= last_scan <= time.time() + 1
        assert value(got, "pg_stat_user_indexes_last_scan_timestamp_seconds", **b) == 0
    else:
        assert last_scan is None


def test_unique_primary_and_invalid_flags(db: Database) -> None:
    db.run(
        f"CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE, name text) {NO_AUTOVACUUM}",
        "CREATE INDEX people_name ON people (name)",
        "INSERT INTO people VALUES (1, 'a@x', 'ann'), (2, 'b@x', 'ann')",
    )
    # Fails on the duplicate name and leaves an INVALID index behind.
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.run("CREATE UNIQUE INDEX CONCURRENTLY people_name_uniq ON people (name)")
    assert db.scalar(
        "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = 'people_name_uniq'::regclass"
    )
    got = db.collect()
    flags = {
        name: tuple(
            value(got, f"pg_index_is_{flag}", **labels(db, "people", name))
            for flag in ("unique", "primary", "valid")
        )
        for name in ("people_pkey", "people_email_key", "people_name", "people_name_uniq")
    }
    assert flags == {
        "people_pkey": (1, 1, 1),
        "people_email_key": (1, 0, 1),
        "people_name": (0, 0, 1),
        "people_name_uniq": (1, 0, 0),
    }


def test_partitioned_index_missing_on_a_partition_is_invalid(db: Database) -> None:
    db.run(
        "CREATE TABLE events (id int, kind text) PARTITION BY LIST (kind)",
        "CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a')",
        "CREATE TABLE events_b PARTITION OF events FOR VALUES IN ('b')",
        # ON ONLY: valid once every partition's index is attached, and one never is.
        "CREATE INDEX events_id ON ONLY events (id)",
        "CREATE INDEX events_a_id ON events_a (id)",
        "ALTER INDEX events_id ATTACH PARTITION events_a_id",
    )
    got = db.collect()
    assert value(got, "pg_index_is_valid", **labels(db, "events", "events_id")) == 0
    assert value(got, "pg_index_is_valid", **labels(db, "events_a", "events_a_id")) == 1
    assert value(got, "pg_stat_user_indexes_size_bytes", **labels(db, "events", "events_id")) == 0


def test_top_n_with_invalid_first_and_remainder(db: Database) -> None:
    statements = []
    for i in range(1, 13):
        statements += [
            f"CREATE TABLE t{i:02} (id int, v int) {NO_AUTOVACUUM}",
            f"INSERT INTO t{i:02} SELECT g, g FROM generate_series(1, {i * 1000}) g",
            f"CREATE INDEX t{i:02}_id ON t{i:02} (id)",  # sets relpages, which ranking reads
        ]
    statements.append("INSERT INTO t01 VALUES (1, 1)")
    db.run(*statements)
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.run("CREATE UNIQUE INDEX CONCURRENTLY t01_broken ON t01 (v)")
    for i in range(1, 13):
        db.run(*[f"SELECT v FROM t{i:02} WHERE id = {j}" for j in range(i)], **INDEX_SCANS)
    got = db.collect(top_n=5)

    named = {lbl["indexrelname"] for lbl, _ in got.samples("pg_stat_user_indexes_scans_total")}
    # The small invalid index first, then the four largest.
    assert named == {"t01_broken", "t12_id", "t11_id", "t10_id", "t09_id", "other"}
    other = {"datname": db.name, "schemaname": "", "relname": "other", "indexrelname": "other"}
    assert value(got, "pg_stat_user_indexes_scans_total", **other) == sum(range(1, 9))
    totals = db.rows(
        "SELECT sum(idx_scan), sum(idx_tup_read), sum(idx_tup_fetch) FROM pg_stat_user_indexes"
    )[0]
    assert (
        got.total("pg_stat_user_indexes_scans_total"),
        got.total("pg_stat_user_indexes_tuples_read_total"),
        got.total("pg_stat_user_indexes_tuples_fetched_total"),
    ) == totals
    estimate = db.scalar(
        "SELECT sum(relpages) * current_setting('block_size')::int FROM pg_class "
        "WHERE relname ~ '^t0[1-8]_id$'"
    )
    assert value(got, "pg_stat_user_indexes_size_bytes", **other) == estimate
    for flag in ("unique", "primary", "valid"):
        assert len(got.samples(f"pg_index_is_{flag}")) == 5
        assert got.value(f"pg_index_is_{flag}", **other) is None


@pytest.mark.parametrize(
    "statement", ["REINDEX INDEX busy_v", "LOCK TABLE busy IN ACCESS EXCLUSIVE MODE"]
)
def test_locked_index_does_not_make_the_collector_wait(db: Database, statement: str) -> None:
    db.run(
        f"CREATE TABLE busy (id int PRIMARY KEY, v int) {NO_AUTOVACUUM}",
        f"CREATE TABLE idle (id int PRIMARY KEY) {NO_AUTOVACUUM}",
        "CREATE INDEX busy_v ON busy (v)",
        "INSERT INTO busy SELECT g, g FROM generate_series(1, 3000) g",
        "INSERT INTO idle SELECT generate_series(1, 3000)",
        "VACUUM busy",
        "VACUUM idle",
    )
    with session(db) as holder:
        holder.execute(statement)  # type: ignore[arg-type]
        began = time.monotonic()
        got = db.collect()
        seconds = time.monotonic() - began
    assert seconds < 2, f"the collector waited {seconds:.1f}s"
    exact = db.scalar("SELECT pg_total_relation_size('idle_pkey')")
    assert value(got, "pg_stat_user_indexes_size_bytes", **labels(db, "idle", "idle_pkey")) == exact
    estimate = db.scalar(
        "SELECT relpages * current_setting('block_size')::int FROM pg_class "
        "WHERE relname = 'busy_v'"
    )
    assert estimate > 0
    assert value(got, "pg_stat_user_indexes_size_bytes", **labels(db, "busy", "busy_v")) == estimate
    assert value(got, "pg_index_is_valid", **labels(db, "busy", "busy_v")) == 1


def test_second_database(pg_cluster: Cluster, db: Database) -> None:
    db.run(f"CREATE TABLE here (id int PRIMARY KEY) {NO_AUTOVACUUM}")
    with scratch_database(pg_cluster.primary, "pgmon_indexes_second", indexes.SPEC) as other:
        other.run(
            f"CREATE TABLE there (id int PRIMARY KEY) {NO_AUTOVACUUM}",
            "INSERT INTO there SELECT generate_series(1, 100)",
        )
        other.run("SELECT * FROM there WHERE id = 7", **INDEX_SCANS)
        got = other.collect()
        seen = {
            (lbl["datname"], lbl["indexrelname"])
            for lbl, _ in got.samples("pg_stat_user_indexes_scans_total")
        }
        assert seen == {(other.name, "there_pkey")}
        assert (
            value(got, "pg_stat_user_indexes_scans_total", **labels(other, "there", "there_pkey"))
            == 1
        )
        assert value(got, "pg_index_is_primary", **labels(other, "there", "there_pkey")) == 1
    got = db.collect()
    assert value(got, "pg_index_is_primary", **labels(db, "here", "here_pkey")) == 1


def test_sizes_are_measured_again_after_wal(pg_cluster: Cluster, db: Database) -> None:
    """Due after 5 minutes, index sizes are measured again only when WAL was written since
    the last measurement; otherwise the last sizes stand, for up to 15 minutes. A file
    dropped beside the index, as a fork it does not have, changes its size without WAL, so
    it shows whether a run measured."""
    db.run(
        f"CREATE TABLE growing (id int PRIMARY KEY) {NO_AUTOVACUUM}",
        "INSERT INTO growing SELECT generate_series(1, 100)",
    )
    state: dict[str, object] = {}
    size, key = "pg_stat_user_indexes_size_bytes", labels(db, "growing", "growing_pkey")
    first = value(collect(indexes.SPEC, db.dsn(), state=state), size, **key)
    measured = state["measured_sizes"]
    assert isinstance(measured, MeasuredSizes)
    path = db.scalar("SELECT pg_relation_filepath('growing_pkey')")
    junk = pg_cluster.primary.datadir / f"{path}_vm"
    junk.write_bytes(b"\0" * 8192)

    def actual() -> int:
        return int(db.scalar("SELECT pg_total_relation_size('growing_pkey')"))

    def due_run(position: str) -> float:
        """A run when sizes are due, with WAL at `position` when they were measured."""
        measured.at -= indexes.SIZES_MAX_AGE_SECONDS
        measured.wal_lsn = position
        return value(collect(indexes.SPEC, db.dsn(), state=state), size, **key)

    try:
        assert without_wal(db.scalar, due_run) == first < actual()
        db.run("INSERT INTO growing VALUES (0)")
        measured.at -= indexes.SIZES_MAX_AGE_SECONDS
        assert value(collect(indexes.SPEC, db.dsn(), state=state), size, **key) == actual()
        junk.write_bytes(b"\0" * 16384)
        measured.at -= UNCHANGED_MAX_AGE_SECONDS
        measured.wal_lsn = db.scalar(WAL_POSITION)
        assert value(collect(indexes.SPEC, db.dsn(), state=state), size, **key) == actual()
    finally:
        junk.unlink()
