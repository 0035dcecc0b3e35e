"""tables collector on real servers: real scans, deletes and vacuums, the top-N bound with
its remainder, tables locked by another session, partitioned tables, a second database."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.rows import namedtuple_row

from monitor.collectors import tables
from monitor.collectors.base import UNCHANGED_MAX_AGE_SECONDS
from monitor.sql import query_for
from tests.collecting import WAL_POSITION, Collected, collect, value, without_wal
from tests.daemon import parse, run_cli, wait_for
from tests.daemon import value as series_value
from tests.pgserver import MONITOR_ROLE, Cluster, Server
from tests.scratchdb import NO_AUTOVACUUM, Database, new_database, scratch_database, session


@pytest.fixture(scope="module")
def module_db(pg_cluster: Cluster) -> Iterator[Database]:
    with scratch_database(pg_cluster.primary, "pgmon_tables", tables.SPEC) as db:
        yield db


@pytest.fixture
def db(module_db: Database) -> Iterator[Database]:
    """The scratch database, emptied after each test so rankings see only its tables."""
    yield module_db
    module_db.empty()


def labels(db: Database, relname: str, schemaname: str = "public") -> dict[str, str]:
    return {"datname": db.name, "schemaname": schemaname, "relname": relname}


def test_scans_tuples_vacuum_and_sizes(db: Database) -> None:
    db.run(
        f"CREATE TABLE items (id int PRIMARY KEY, v text) {NO_AUTOVACUUM}",
        "INSERT INTO items SELECT g, repeat('x', 100) FROM generate_series(1, 100) g",
        "DELETE FROM items WHERE id <= 40",
        "UPDATE items SET v = 'y' WHERE id = 50",
    )
    db.run("SELECT count(*) FROM items", "SELECT count(*) FROM items")
    db.run("SELECT v FROM items WHERE id = 70", enable_seqscan="off", enable_bitmapscan="off")
    got = db.collect()
    items = labels(db, "items")
    assert value(got, "pg_stat_user_tables_n_tup_ins", **items) == 100
    assert value(got, "pg_stat_user_tables_n_tup_del", **items) == 40
    assert value(got, "pg_stat_user_tables_n_tup_upd", **items) == 1
    # The DELETE leaves 40 dead rows, the UPDATE one more old version.
    assert value(got, "pg_stat_user_tables_n_dead_tup", **items) == 41
    assert value(got, "pg_stat_user_tables_n_live_tup", **items) == 60
    assert value(got, "pg_stat_user_tables_n_mod_since_analyze", **items) == 141
    assert value(got, "pg_stat_user_tables_seq_scan", **items) >= 2
    assert value(got, "pg_stat_user_tables_seq_tup_read", **items) >= 120
    assert value(got, "pg_stat_user_tables_idx_scan", **items) >= 1
    assert value(got, "pg_stat_user_tables_idx_tup_fetch", **items) >= 1
    assert value(got, "pg_statio_user_tables_heap_blocks_hit", **items) > 0
    assert value(got, "pg_statio_user_tables_idx_blocks_hit", **items) > 0
    assert value(got, "pg_stat_user_tables_last_vacuum", **items) == 0
    assert value(got, "pg_stat_user_tables_vacuum_count", **items) == 0
    table_size, index_size = db.rows("SELECT pg_table_size('items'), pg_indexes_size('items')")[0]
    assert value(got, "pg_stat_user_tables_table_size_bytes", **items) == table_size
    assert value(got, "pg_stat_user_tables_index_size_bytes", **items) == index_size
    # Fewer tables than top_n: no remainder series at all.
    assert got.samples("pg_stat_user_tables_seq_scan") == [
        ({"target": "test", **items}, value(got, "pg_stat_user_tables_seq_scan", **items))
    ]

    before = time.time()
    db.run("VACUUM items", "ANALYZE items")
    got = db.collect()
    assert before - 1 <= value(got, "pg_stat_user_tables_last_vacuum", **items) <= time.time() + 1
    assert value(got, "pg_stat_user_tables_last_analyze", **items) >= before - 1
    assert value(got, "pg_stat_user_tables_last_autovacuum", **items) == 0
    assert value(got, "pg_stat_user_tables_vacuum_count", **items) == 1
    assert value(got, "pg_stat_user_tables_analyze_count", **items) == 1
    assert value(got, "pg_stat_user_tables_n_dead_tup", **items) == 0
    assert value(got, "pg_stat_user_tables_n_mod_since_analyze", **items) == 0


SUMMED = {
    "seq_scan": "pg_stat_user_tables_seq_scan",
    "seq_tup_read": "pg_stat_user_tables_seq_tup_read",
    "coalesce(idx_scan, 0)": "pg_stat_user_tables_idx_scan",
    "n_tup_ins": "pg_stat_user_tables_n_tup_ins",
    "n_tup_del": "pg_stat_user_tables_n_tup_del",
    "n_live_tup": "pg_stat_user_tables_n_live_tup",
    "n_dead_tup": "pg_stat_user_tables_n_dead_tup",
    "analyze_count": "pg_stat_user_tables_analyze_count",
    "heap_blks_hit": "pg_statio_user_tables_heap_blocks_hit",
    "coalesce(idx_blks_hit, 0)": "pg_statio_user_tables_idx_blocks_hit",
}


def test_top_n_and_remainder(db: Database) -> None:
    statements = []
    for i in range(1, 31):
        statements += [
            f"CREATE TABLE t{i:02} (id int PRIMARY KEY) {NO_AUTOVACUUM}",
            f"INSERT INTO t{i:02} SELECT generate_series(1, {i * 300})",
            f"DELETE FROM t{i:02} WHERE id <= {i}",
        ]
        statements += [f"SELECT count(*) FROM t{i:02}"] * (i % 4)
    db.run(*statements)
    # Sets relpages, which the ranking reads. In a session of its own: changes still
    # pending in the session that made them would be added on top of ANALYZE's count.
    db.run(*(f"ANALYZE t{i:02}" for i in range(1, 31)))
    got = db.collect(top_n=10)

    named = {lbl["relname"] for lbl, _ in got.samples("pg_stat_user_tables_seq_scan")}
    assert named == {f"t{i:02}" for i in range(21, 31)} | {"other"}
    remainder = labels(db, "other", schemaname="")
    assert len(got.samples("pg_stat_user_tables_n_live_tup")) == 11
    assert value(got, "pg_stat_user_tables_n_live_tup", **remainder) == sum(
        i * 300 - i for i in range(1, 21)
    )
    # Sums over named tables plus the remainder equal sums over all tables.
    columns = list(SUMMED)
    totals = db.rows(
        f"SELECT {', '.join(f'sum({c})' for c in columns)} "
        "FROM pg_stat_user_tables JOIN pg_statio_user_tables USING (relid)"
    )[0]
    for column, total in zip(columns, totals, strict=True):
        assert got.total(SUMMED[column]) == total, column
    # Timestamps only for named tables.
    assert len(got.samples("pg_stat_user_tables_last_analyze")) == 10
    assert got.value("pg_stat_user_tables_last_analyze", **remainder) is None
    # Named tables measured exactly; the remainder estimated from relpages.
    exact = db.scalar("SELECT pg_table_size('t30')")
    assert value(got, "pg_stat_user_tables_table_size_bytes", **labels(db, "t30")) == exact
    estimate = db.rows(
        "SELECT sum(c.relpages) * current_setting('block_size')::int, "
        "       sum(i.relpages) * current_setting('block_size')::int "
        "FROM pg_class c JOIN pg_index x ON x.indrelid = c.oid "
        "JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE c.relname < 't21' AND c.relname LIKE 't__' AND c.relkind = 'r'"
    )[0]
    assert value(got, "pg_stat_user_tables_table_size_bytes", **remainder) == estimate[0]
    assert value(got, "pg_stat_user_tables_index_size_bytes", **remainder) == estimate[1]


def test_estimated_sizes_when_exact_ones_are_not_wanted(db: Database) -> None:
    """The fallback after a lock timeout: the same rows, sizes from relpages only."""
    db.run(
        f"CREATE TABLE est (id int PRIMARY KEY, v text) {NO_AUTOVACUUM}",
        "ALTER TABLE est ALTER v SET STORAGE EXTERNAL",  # out of line, uncompressed
        "INSERT INTO est SELECT g, repeat('x', 3000) FROM generate_series(1, 200) g",
        "VACUUM ANALYZE est",
    )
    with psycopg.connect(db.dsn(), row_factory=namedtuple_row) as conn:
        query = sql.SQL(query_for("tables", conn.info.server_version))  # type: ignore[arg-type]
        (row,) = conn.execute(query, (None, False)).fetchall()
        # Read by relid, as between rankings: the same counters, TOAST index included, and
        # the sizes given unless they are measured.
        named = sql.SQL(query_for("tables_named", conn.info.server_version))  # type: ignore[arg-type]
        assert row.toast_indexrelid is not None

        def by_relid(exact: bool, sizes: tuple[int, int]) -> Any:
            given = ([row.relid], [row.toast_indexrelid], [sizes[0]], [sizes[1]])
            (got,) = conn.execute(named, (exact, *given)).fetchall()
            return got

        assert by_relid(False, (row.table_size_bytes, row.index_size_bytes)) == row
        unsized = by_relid(False, (1, 2))
        assert (unsized.table_size_bytes, unsized.index_size_bytes) == (1, 2)
        (exact_row,) = conn.execute(query, (None, True)).fetchall()
        assert by_relid(True, (1, 2)) == exact_row
    heap, toast, toast_index, index, block = db.rows(
        "SELECT c.relpages, t.relpages, "
        "       (SELECT sum(i.relpages) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        "        WHERE x.indrelid = c.reltoastrelid), "
        "       (SELECT sum(i.relpages) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        "        WHERE x.indrelid = c.oid), current_setting('block_size')::int "
        "FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.relname = 'est'"
    )[0]
    assert toast > 0 and toast_index > 0
    assert (row.schemaname, row.relname) == ("public", "est")
    assert row.table_size_bytes == (heap + toast + toast_index) * block
    assert row.index_size_bytes == index * block
    exact = db.scalar("SELECT pg_table_size('est')")
    assert exact >= row.table_size_bytes  # plus the free space and visibility maps


@contextmanager
def waiting_for(db: Database, statement: str) -> Iterator[None]:
    """`statement` in a thread of its own, waiting for a lock until the block ends."""
    conn = db.server.connect(db.name)
    conn.autocommit = False
    errors: list[BaseException] = []

    def work() -> None:
        try:
            conn.execute(statement)  # type: ignore[arg-type]
            conn.rollback()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        wait_for(
            lambda: db.scalar("SELECT count(*) FROM pg_locks WHERE NOT granted") > 0,
            10,
            "a lock request waiting",
        )
        yield
    finally:
        thread.join(30)
        conn.close()
    assert not errors, errors


def timed_collect(db: Database) -> tuple[Collected, float]:
    began = time.monotonic()
    got = db.collect()
    return got, time.monotonic() - began


@pytest.fixture
def two_tables(db: Database) -> Database:
    db.run(
        f"CREATE TABLE locked (id int PRIMARY KEY, v text) {NO_AUTOVACUUM}",
        f"CREATE TABLE free (id int PRIMARY KEY) {NO_AUTOVACUUM}",
        "CREATE INDEX locked_v ON locked (v)",
        "INSERT INTO locked SELECT g, g::text FROM generate_series(1, 5000) g",
        "INSERT INTO free SELECT generate_series(1, 1000)",
    )
    db.run("VACUUM ANALYZE locked", "VACUUM ANALYZE free")  # after the inserts' stats are in
    return db


def assert_reported_without_waiting(db: Database, got: Collected, seconds: float) -> None:
    assert seconds < 2, f"the collector waited {seconds:.1f}s"
    free = labels(db, "free")
    exact = db.scalar("SELECT pg_table_size('free')")
    assert value(got, "pg_stat_user_tables_table_size_bytes", **free) == exact
    locked = labels(db, "locked")
    assert value(got, "pg_stat_user_tables_n_live_tup", **locked) == 5000
    # Its sizes come from the catalogue instead.
    estimate = db.scalar(
        "SELECT sum(i.relpages) * current_setting('block_size')::int "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = 'locked'::regclass"
    )
    assert value(got, "pg_stat_user_tables_index_size_bytes", **locked) == estimate


def test_table_locked_access_exclusive(two_tables: Database) -> None:
    db = two_tables
    with session(db) as holder:
        holder.execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")
        got, seconds = timed_collect(db)
    assert_reported_without_waiting(db, got, seconds)


def test_access_exclusive_lock_still_waiting(two_tables: Database) -> None:
    """A waiting ALTER TABLE is as dangerous: our lock request would queue behind it."""
    db = two_tables
    with session(db) as reader:
        reader.execute("SELECT count(*) FROM locked")
        with waiting_for(db, "ALTER TABLE locked ADD COLUMN w int"):
            got, seconds = timed_collect(db)
            reader.rollback()
    assert_reported_without_waiting(db, got, seconds)


def test_index_locked_by_reindex(two_tables: Database) -> None:
    """REINDEX INDEX locks the index, not the table: pg_indexes_size() would still wait."""
    db = two_tables
    with session(db) as holder:
        holder.execute("REINDEX INDEX locked_v")
        assert (
            db.scalar("SELECT mode FROM pg_locks WHERE relation = 'locked_v'::regclass AND granted")
            == "AccessExclusiveLock"
        )
        got, seconds = timed_collect(db)
    assert_reported_without_waiting(db, got, seconds)


def test_locked_table_between_rankings(two_tables: Database) -> None:
    """A run that reads the named tables and measures sizes does not wait for a locked
    table either: that table keeps the sizes measured before, the others are measured."""
    db = two_tables
    state: dict[str, object] = {}
    before = collect(tables.SPEC, db.dsn(), state=state)  # ranks and measures
    db.run("INSERT INTO free SELECT generate_series(1001, 20000)")
    state["measured_sizes"].at -= tables.SIZES_MAX_AGE_SECONDS  # type: ignore[attr-defined]
    with session(db) as holder:
        holder.execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")
        began = time.monotonic()
        got = collect(tables.SPEC, db.dsn(), state=state)
        seconds = time.monotonic() - began
    assert seconds < 2, f"the collector waited {seconds:.1f}s"
    assert state["ranking"].at < state["measured_sizes"].at  # type: ignore[attr-defined]
    free, locked = labels(db, "free"), labels(db, "locked")
    assert value(got, "pg_stat_user_tables_n_live_tup", **locked) == 5000
    size = "pg_stat_user_tables_table_size_bytes"
    assert value(got, size, **free) == db.scalar("SELECT pg_table_size('free')")
    assert value(got, size, **free) > value(before, size, **free)
    for metric in (size, "pg_stat_user_tables_index_size_bytes"):
        assert value(got, metric, **locked) == value(before, metric, **locked)


def test_partitioned_table(db: Database) -> None:
    db.run(
        "CREATE TABLE events (id int, at date) PARTITION BY RANGE (id)",
        f"CREATE TABLE events_big PARTITION OF events FOR VALUES FROM (0) TO (100000) "
        f"{NO_AUTOVACUUM}",
        f"CREATE TABLE events_small PARTITION OF events FOR VALUES FROM (100000) TO (200000) "
        f"{NO_AUTOVACUUM}",
        f"CREATE TABLE plain (id int) {NO_AUTOVACUUM}",
        "INSERT INTO events SELECT g, '2024-01-01' FROM generate_series(1, 20000) g",
        "INSERT INTO events SELECT g, '2024-01-01' FROM generate_series(100000, 101000) g",
        "INSERT INTO plain SELECT generate_series(1, 5000)",
        "ANALYZE events",  # autovacuum never analyzes a partitioned parent
        "ANALYZE plain",
    )
    got = db.collect(top_n=2)
    # The parent ranks by its partitions' total, ahead of its biggest partition.
    named = {lbl["relname"] for lbl, _ in got.samples("pg_stat_user_tables_last_analyze")}
    assert named == {"events", "events_big"}
    parent = labels(db, "events")
    assert value(got, "pg_stat_user_tables_last_analyze", **parent) > 0
    assert value(got, "pg_stat_user_tables_analyze_count", **parent) == 1
    # It has no storage: its rows live in the partitions and are counted there only.
    assert value(got, "pg_stat_user_tables_table_size_bytes", **parent) == 0
    assert value(got, "pg_stat_user_tables_n_tup_ins", **parent) == 0
    assert value(got, "pg_stat_user_tables_n_tup_ins", **labels(db, "events_big")) == 20000
    assert got.total("pg_stat_user_tables_n_tup_ins") == 26001


def test_second_database(pg_cluster: Cluster, db: Database) -> None:
    db.run(f"CREATE TABLE here (id int) {NO_AUTOVACUUM}", "INSERT INTO here VALUES (1)")
    with scratch_database(pg_cluster.primary, "pgmon_tables_second", tables.SPEC) as other:
        other.run(
            f"CREATE TABLE there (id int) {NO_AUTOVACUUM}",
            "INSERT INTO there SELECT generate_series(1, 7)",
        )
        got = other.collect()
        assert value(got, "pg_stat_user_tables_n_tup_ins", **labels(other, "there")) == 7
        seen = {
            (lbl["datname"], lbl["relname"])
            for lbl, _ in got.samples("pg_stat_user_tables_n_tup_ins")
        }
        assert seen == {(other.name, "there")}
    got = db.collect()
    assert value(got, "pg_stat_user_tables_n_tup_ins", **labels(db, "here")) == 1


def tables_of(server: Server, datname: str, sizes: tuple[int, ...]) -> None:
    """Tables t0, t1, ... with these row counts, vacuumed and analyzed (for the ranking)."""
    for i, rows in enumerate(sizes):
        server.execute(
            f"CREATE TABLE t{i} (id int, pad text) {NO_AUTOVACUUM}",  # type: ignore[arg-type]
            dbname=datname,
        )
        server.execute(
            f"INSERT INTO t{i} SELECT g, repeat('x', 200) "  # type: ignore[arg-type]
            f"FROM generate_series(1, {rows}) g",
            dbname=datname,
        )
    server.execute("VACUUM ANALYZE", dbname=datname)


def test_top_n_is_per_target_over_all_databases(pg_cluster: Cluster) -> None:
    """Through `pgmon collect`: with top_n 3 over two databases of 4 tables each, 3 tables are
    named in all, the largest, and each database's remainder carries the rest of its rows."""
    primary = pg_cluster.primary
    with (
        new_database(primary, "pgmon_cut_a") as first,
        new_database(primary, "pgmon_cut_b") as second,
    ):
        inserted: dict[str, int] = {}
        for datname, sizes in ((first, (4000, 30, 20, 10)), (second, (3000, 2000, 5, 1))):
            tables_of(primary, datname, sizes)
            inserted[datname] = sum(sizes)
        config = {
            "targets": [
                {
                    "name": "cut",
                    "dsn": primary.dsn(user=MONITOR_ROLE),
                    "databases": {"include": [first, second]},
                }
            ],
            "collectors": {"tables": {"enabled": True, "top_n": 3}},
        }
        path = Path(tempfile.mkdtemp()) / "pgmon.yaml"
        path.write_text(yaml.safe_dump(config))
        result = run_cli("collect", "--config", str(path))
        assert result.returncode == 0, result.stderr
        # prometheus_client's parser names counter samples <name>_total
        series = parse(result.stdout)
        named = {
            (dict(lbl)["datname"], dict(lbl)["relname"])
            for (name, lbl) in series
            if name == "pg_stat_user_tables_n_tup_ins_total" and dict(lbl)["relname"] != "other"
        }
        assert named == {(first, "t0"), (second, "t0"), (second, "t1")}
        for datname in (first, second):
            total = sum(
                v
                for (name, lbl), v in series.items()
                if name == "pg_stat_user_tables_n_tup_ins_total" and dict(lbl)["datname"] == datname
            )
            assert total == inserted[datname]
        last = series_value(
            series, "pg_stat_user_tables_last_analyze", relname="other", datname=first
        )
        assert last is None


def test_exact_sizes_are_measured_at_most_every_five_minutes(db: Database) -> None:
    """Between measurements a run reports the last measured sizes, not the estimates."""
    db.run(f"CREATE TABLE grows (id int PRIMARY KEY, v text) {NO_AUTOVACUUM}")
    db.run("INSERT INTO grows SELECT g, repeat('x', 100) FROM generate_series(1, 100) g")
    state: dict[str, object] = {}
    size = "pg_stat_user_tables_table_size_bytes"
    first = value(collect(tables.SPEC, db.dsn(), state=state), size, **labels(db, "grows"))
    assert first == db.scalar("SELECT pg_table_size('grows')")
    db.run("INSERT INTO grows SELECT g, repeat('x', 100) FROM generate_series(101, 20000) g")
    grown = db.scalar("SELECT pg_table_size('grows')")
    assert grown > first
    again = value(collect(tables.SPEC, db.dsn(), state=state), size, **labels(db, "grows"))
    assert again == first  # measured less than 5 minutes ago
    state["measured_sizes"].at -= tables.SIZES_MAX_AGE_SECONDS  # type: ignore[attr-defined]
    later = value(collect(tables.SPEC, db.dsn(), state=state), size, **labels(db, "grows"))
    assert later == grown


def test_named_tables_are_read_between_rankings(db: Database) -> None:
    """Between rankings a run reads the named tables afresh and repeats the remainder of the
    last ranking; a named table that disappears makes the next run rank again."""
    db.run(
        *(f"CREATE TABLE r{i} (id int PRIMARY KEY) {NO_AUTOVACUUM}" for i in range(1, 4)),
        *(f"INSERT INTO r{i} SELECT generate_series(1, {i * 1000})" for i in range(1, 4)),
    )
    db.run(*(f"ANALYZE r{i}" for i in range(1, 4)))
    state: dict[str, object] = {}
    inserted = "pg_stat_user_tables_n_tup_ins"
    other = labels(db, "other", schemaname="")

    def named(got: Collected) -> set[str]:
        return {lbl["relname"] for lbl, _ in got.samples(inserted)}

    first = collect(tables.SPEC, db.dsn(), top_n=2, state=state)
    assert named(first) == {"r2", "r3", "other"}
    assert value(first, inserted, **other) == 1000

    # r1 grows past the others and r3 gets rows: r3 is read afresh, but r1 stays in the
    # remainder, which repeats the last ranking's sums, until the tables are ranked again.
    db.run("INSERT INTO r1 SELECT generate_series(1001, 20000)", "INSERT INTO r3 VALUES (0)")
    db.run("ANALYZE r1")
    between = collect(tables.SPEC, db.dsn(), top_n=2, state=state)
    assert named(between) == {"r2", "r3", "other"}
    assert value(between, inserted, **labels(db, "r3")) == 3001
    assert value(between, inserted, **other) == 1000

    state["ranking"].at -= tables.RANKING_MAX_AGE_SECONDS  # type: ignore[attr-defined]
    ranked = collect(tables.SPEC, db.dsn(), top_n=2, state=state)
    assert named(ranked) == {"r1", "r3", "other"}
    assert value(ranked, inserted, **labels(db, "r1")) == 20000
    assert value(ranked, inserted, **other) == 2000

    db.run("DROP TABLE r3")
    after_drop = collect(tables.SPEC, db.dsn(), top_n=2, state=state)
    assert named(after_drop) == {"r1", "r2"}


def test_a_database_without_named_tables_is_not_read_between_rankings(db: Database) -> None:
    state: dict[str, object] = {}
    ranked = collect(tables.SPEC, db.dsn(), state=state)
    assert ranked.samples("pg_stat_user_tables_n_tup_ins") == []
    assert state["ranking"].rows == []  # type: ignore[attr-defined]
    between = collect(tables.SPEC, db.dsn(), state=state)
    assert between.samples("pg_stat_user_tables_n_tup_ins") == []
    assert state["sizes_measured"] is False  # no statement ran to measure them


def test_between_rankings_only_the_tables_the_cut_kept_are_read(pg_cluster: Cluster) -> None:
    """In the daemon's runner, top_n 2 over two databases: between rankings the tables the
    target-wide cut kept are read afresh; the ones it folded stay in their database's
    remainder with the values of the last ranking until the next one."""
    from monitor.daemon import make_jobs
    from monitor.settings import load_settings
    from monitor.snapshot import SnapshotStore
    from monitor.targets import build_targets

    primary = pg_cluster.primary
    with (
        new_database(primary, "pgmon_fast_a") as first,
        new_database(primary, "pgmon_fast_b") as second,
    ):
        for datname, sizes in ((first, (4000, 30)), (second, (3000, 20))):
            tables_of(primary, datname, sizes)
        path = Path(tempfile.mkdtemp()) / "pgmon.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "targets": [
                        {
                            "name": "fast",
                            "dsn": primary.dsn(user=MONITOR_ROLE),
                            "databases": {"include": [first, second]},
                        }
                    ],
                    "collectors": {"tables": {"top_n": 2}},
                }
            )
        )
        store = SnapshotStore()
        targets = build_targets(load_settings(path))
        (job,) = [j for j in make_jobs(targets, store) if j.plan.spec.name == "tables"]

        def inserted() -> dict[tuple[str, str], float]:
            job.run()
            (snapshot,) = [s for s in store.snapshots() if s.source == "tables"]
            return {
                (s.labels[0], s.labels[2]): s.value
                for s in snapshot.samples
                if s.metric == "pg_stat_user_tables_n_tup_ins"
            }

        try:
            assert inserted() == {
                (first, "t0"): 4000,
                (second, "t0"): 3000,
                (first, "other"): 30,
                (second, "other"): 20,
            }
            primary.execute("INSERT INTO t0 SELECT g FROM generate_series(1, 5) g", dbname=first)
            primary.execute("INSERT INTO t1 SELECT g FROM generate_series(1, 7) g", dbname=first)
            between = inserted()
            assert between[(first, "t0")] == 4005
            assert between[(first, "other")] == 30  # t1 as the last ranking saw it
            for state in job._state.values():
                state["ranking"].at -= tables.RANKING_MAX_AGE_SECONDS
            ranked = inserted()
            assert ranked[(first, "t0")] == 4005 and ranked[(first, "other")] == 37
        finally:
            for target in targets:
                target.close()


def test_rankings_and_sizes_wait_for_wal(db: Database) -> None:
    """Due after 5 minutes, a ranking and a measurement of sizes are made again only when
    WAL was written since the last ones; after 15 minutes they are made again anyway."""
    db.run(
        f"CREATE TABLE quiet (id int PRIMARY KEY) {NO_AUTOVACUUM}",
        "INSERT INTO quiet SELECT generate_series(1, 100)",
    )
    state: dict[str, object] = {}
    collect(tables.SPEC, db.dsn(), state=state)
    ranking, measured = state["ranking"], state["measured_sizes"]
    assert isinstance(ranking, tables.Ranking) and isinstance(measured, tables.MeasuredSizes)

    def made() -> tuple[float, float]:
        return ranking.at, measured.at

    def aged(seconds: float, position: str) -> tuple[float, float]:
        """The ranking and the sizes made `seconds` earlier, with WAL at `position`."""
        ranking.at -= seconds
        measured.at -= seconds
        ranking.wal_lsn = measured.wal_lsn = position
        return made()

    def idle_run(position: str) -> tuple[float, float]:
        """A run when both are due, with no WAL written since they were made."""
        before = aged(tables.RANKING_MAX_AGE_SECONDS, position)
        collect(tables.SPEC, db.dsn(), state=state)
        return before

    before = without_wal(db.scalar, idle_run)
    assert made() == before
    db.run("INSERT INTO quiet VALUES (0)")
    collect(tables.SPEC, db.dsn(), state=state)
    assert min(made()) > max(before)
    before = aged(UNCHANGED_MAX_AGE_SECONDS, db.scalar(WAL_POSITION))
    collect(tables.SPEC, db.dsn(), state=state)
    assert min(made()) > max(before)
