"""replication collector against a real primary and streaming replica: real lag from paused
replay, real slots."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from psycopg import sql

from monitor.collectors.replication import SPEC
from tests.collecting import Collected, collect, value
from tests.pgserver import (
    MONITOR_ROLE,
    Cluster,
    Server,
    pause_replay,
    resume_replay,
    wait_for_receive,
    wait_for_replay,
)


def monitor(server: Server) -> Collected:
    """One run as the pg_monitor-only role, the way the daemon would run it."""
    return collect(SPEC, server.dsn(user=MONITOR_ROLE))


def eventually(check: Callable[[], Collected | None], timeout: float = 20.0) -> Collected:
    """Collect until `check` accepts a run: background WAL (e.g. running-xacts records) can
    arrive between two statements of a run and make a caught-up standby briefly look behind."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got is not None:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


@pytest.fixture
def table(pg_cluster: Cluster) -> Iterator[sql.Identifier]:
    name = sql.Identifier(f"pgmon_replication_{uuid.uuid4().hex[:8]}")
    pg_cluster.primary.execute(sql.SQL("CREATE TABLE {} (id int, pad text)").format(name))
    try:
        yield name
    finally:
        pg_cluster.primary.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(name))


def write_wal(primary: Server, table: sql.Identifier, rows: int = 4000) -> None:
    """About 4 MB of WAL with the default row count."""
    primary.execute(
        sql.SQL("INSERT INTO {} SELECT g, repeat('x', 1000) FROM generate_series(1, %s) g").format(
            table
        ),
        [rows],
    )


def standby_labels(got: Collected, slot_name: str) -> dict[str, str]:
    """application_name and client_addr of the standby that uses `slot_name`."""
    for labels, _ in got.samples("pg_stat_replication_pg_current_wal_lsn_bytes"):
        if labels["slot_name"] == slot_name:
            return {
                "application_name": labels["application_name"],
                "client_addr": labels["client_addr"],
            }
    raise AssertionError(f"no pg_stat_replication row for slot {slot_name}")


def test_roles(pg_cluster: Cluster) -> None:
    primary = monitor(pg_cluster.primary)
    assert primary.value("pg_replication_is_replica") == 0
    assert primary.value("pg_replication_lag_seconds") == 0
    assert primary.samples("pg_stat_wal_receiver_status") == []
    assert primary.samples("pg_replication_last_replay_seconds") == []
    # Fixture defaults; wal_keep_size is the PG13+ setting (wal_keep_segments is gone).
    assert primary.value("pg_settings_wal_keep_size_bytes") == 0
    assert primary.value("pg_settings_max_slot_wal_keep_size_bytes") == -1

    replica = monitor(pg_cluster.replica)
    assert replica.value("pg_replication_is_replica") == 1
    assert replica.value("pg_stat_wal_receiver_status", status="streaming") == 1
    assert replica.value("pg_stat_wal_receiver_status", status="stopped") == 0
    assert replica.value("pg_stat_wal_receiver_connected") == 1
    assert replica.value("pg_stat_wal_receiver_last_msg_receipt_age_seconds") is not None
    # Nothing cascades from the replica, and it has no slots of its own.
    assert replica.samples("pg_stat_replication_replay_lag_bytes") == []
    assert replica.samples("pg_replication_slots_active") == []


def test_lag_from_paused_replay(pg_cluster: Cluster, table: sql.Identifier) -> None:
    primary, replica = pg_cluster.primary, pg_cluster.replica
    # A replayed commit first, so the standby knows the time of its last replayed transaction.
    write_wal(primary, table, rows=1)
    wait_for_replay(primary, replica)

    pause_replay(replica)
    try:
        write_wal(primary, table)
        wait_for_receive(primary, replica)
        time.sleep(0.5)  # the last replayed commit is now measurably old

        on_replica = monitor(replica)
        assert value(on_replica, "pg_replication_replay_lag_bytes") > 1_000_000
        assert value(on_replica, "pg_replication_lag_seconds") > 0
        assert value(on_replica, "pg_replication_last_replay_seconds") > 0
        assert on_replica.value("pg_stat_wal_receiver_connected") == 1

        on_primary = monitor(primary)
        who = standby_labels(on_primary, pg_cluster.slot_name)
        replay_lag = value(on_primary, "pg_stat_replication_replay_lag_bytes", **who)
        assert replay_lag > 1_000_000
        # Received (and flushed) while replay is paused: only replay trails.
        assert value(on_primary, "pg_stat_replication_flush_lag_bytes", **who) < replay_lag
        assert on_primary.value("pg_stat_replication_state", **who, state="streaming") == 1
        exporter = {**who, "state": "streaming", "slot_name": pg_cluster.slot_name}
        assert value(on_primary, "pg_stat_replication_pg_wal_lsn_diff", **exporter) > 1_000_000
    finally:
        resume_replay(replica)

    # Primary idle, everything replayed: no lag, although the last commit keeps ageing.
    wait_for_replay(primary, replica)

    def caught_up() -> Collected | None:
        got = monitor(replica)
        lag_bytes = got.value("pg_replication_replay_lag_bytes")
        return got if lag_bytes == 0 and got.value("pg_replication_lag_seconds") == 0 else None

    on_replica = eventually(caught_up)
    assert on_replica.value("pg_replication_replay_lag_bytes") == 0
    assert on_replica.value("pg_replication_lag_seconds") == 0
    assert value(on_replica, "pg_replication_last_replay_seconds") >= 0


def test_slots(pg_cluster: Cluster, table: sql.Identifier) -> None:
    primary = pg_cluster.primary
    got = monitor(primary)
    replica_slot = pg_cluster.slot_name
    assert got.value("pg_replication_slots_active", slot_name=replica_slot, database="") == 1
    assert (
        got.value(
            "pg_replication_slots_wal_status",
            slot_name=replica_slot,
            slot_type="physical",
            wal_status="reserved",
        )
        == 1
    )
    # max_slot_wal_keep_size is -1 on the fixture: no slot has a safe size.
    assert got.samples("pg_replication_slots_safe_wal_size_bytes") == []

    idle = f"pgmon_idle_{uuid.uuid4().hex[:8]}"
    idle_slot = {"slot_name": idle, "database": ""}
    primary.execute("SELECT pg_create_physical_replication_slot(%s, true)", [idle])
    try:
        before = monitor(primary)
        assert value(before, "pg_replication_slots_active", **idle_slot) == 0
        retained_before = value(before, "pg_replication_slots_pg_wal_lsn_diff", **idle_slot)

        write_wal(primary, table, rows=1000)

        # pg_current_wal_lsn() is the write position: with synchronous_commit off (as on the
        # fixture) it reaches the inserted WAL only when the WAL writer gets to it.
        def retained_more() -> Collected | None:
            got = monitor(primary)
            retained = value(got, "pg_replication_slots_pg_wal_lsn_diff", **idle_slot)
            return got if retained - retained_before > 500_000 else None

        after = eventually(retained_more)
        status = {"slot_name": idle, "slot_type": "physical", "wal_status": "reserved"}
        assert value(after, "pg_replication_slots_wal_status", **status) == 1
    finally:
        primary.execute("SELECT pg_drop_replication_slot(%s)", [idle])
    gone = monitor(primary)
    assert gone.value("pg_replication_slots_active", **idle_slot) is None
    assert gone.value("pg_replication_slots_active", slot_name=replica_slot, database="") == 1
