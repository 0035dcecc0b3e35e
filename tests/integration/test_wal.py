"""wal collector against real servers: writing data moves the WAL position and pg_stat_wal."""

from __future__ import annotations

import time
import uuid

from psycopg import sql

from monitor.collectors.wal import SPEC
from tests.collecting import Collected, collect, value
from tests.pgserver import MONITOR_ROLE, Cluster, Server, wait_for_replay

SEGMENT = 16 * 1024 * 1024  # the fixture's wal_segment_size (the default)


def monitor(server: Server, user: str = MONITOR_ROLE) -> Collected:
    return collect(SPEC, server.dsn(user=user))


def grown(server: Server, metric: str, before: Collected, at_least: float) -> float:
    """Statistics reach the shared view a little after the writing transaction ends."""
    start = value(before, metric)
    deadline = time.monotonic() + 15
    while True:
        growth = value(monitor(server), metric) - start
        if growth >= at_least or time.monotonic() > deadline:
            return growth
        time.sleep(0.2)


def test_writes_are_counted(pg_cluster: Cluster) -> None:
    primary = pg_cluster.primary
    table = sql.Identifier(f"pgmon_wal_{uuid.uuid4().hex[:8]}")
    before = monitor(primary)
    primary.execute(
        sql.SQL(
            "CREATE TABLE {} AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 4000) g"
        ).format(table)
    )
    try:
        assert grown(primary, "pg_wal_lsn_location_bytes", before, 2_000_000) >= 2_000_000
        assert grown(primary, "pg_stat_wal_wal_bytes", before, 2_000_000) >= 2_000_000
        assert grown(primary, "pg_stat_wal_wal_records", before, 4000) >= 4000
        # fsync is off on the fixture, but WAL buffers are still written out.
        assert grown(primary, "pg_stat_wal_wal_write", before, 1) >= 1
    finally:
        primary.execute(sql.SQL("DROP TABLE {}").format(table))


def test_directory(pg_cluster: Cluster) -> None:
    got = monitor(pg_cluster.primary)
    segments = value(got, "pg_wal_segments")
    assert segments >= 1
    assert value(got, "pg_wal_size_bytes") == segments * SEGMENT
    assert value(got, "pg_stat_wal_stats_reset") > 0
    assert got.samples("pg_wal_receive_lsn_bytes") == []


def test_standby_position(pg_cluster: Cluster) -> None:
    primary, replica = pg_cluster.primary, pg_cluster.replica
    target = primary.scalar("SELECT pg_current_wal_lsn() - '0/0'")
    wait_for_replay(primary, replica)
    got = monitor(replica)
    assert value(got, "pg_wal_receive_lsn_bytes") >= target
    assert value(got, "pg_wal_lsn_location_bytes") >= target
    assert value(got, "pg_wal_segments") >= 1


def test_without_pg_monitor_the_position_remains(pg_cluster: Cluster) -> None:
    primary = pg_cluster.primary
    plain = f"pgmon_plain_{uuid.uuid4().hex[:8]}"
    primary.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(plain)))
    try:
        got = monitor(primary, user=plain)
        assert value(got, "pg_wal_lsn_location_bytes") > 0
        assert got.samples("pg_wal_segments") == []  # pg_ls_waldir() needs pg_monitor
        assert value(got, "pg_stat_wal_wal_bytes") > 0
    finally:
        primary.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(plain)))
