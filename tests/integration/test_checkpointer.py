"""checkpointer collector against real servers: CHECKPOINT (as superuser) is counted on every
version, in pg_stat_bgwriter before PG17 and pg_stat_checkpointer from PG17 on."""

from __future__ import annotations

import time
import uuid

import pytest
from psycopg import sql

from monitor.collectors.checkpointer import SPEC
from tests.collecting import Collected, collect, value
from tests.pgserver import MONITOR_ROLE, Cluster, Server, wait_for_replay


def monitor(server: Server) -> Collected:
    return collect(SPEC, server.dsn(user=MONITOR_ROLE))


def grows(server: Server, metric: str, before: Collected, timeout: float = 15.0) -> float:
    """How much `metric` grew; the checkpointer reports its counters just after it finishes."""
    start = value(before, metric)
    deadline = time.monotonic() + timeout
    while True:
        grown = value(monitor(server), metric) - start
        if grown > 0 or time.monotonic() > deadline:
            return grown
        time.sleep(0.2)


def requested_metric(major: str) -> str:
    if int(major) >= 17:
        return "pg_stat_checkpointer_num_requested_total"
    return "pg_stat_bgwriter_checkpoints_req_total"


def written_metric(major: str) -> str:
    if int(major) >= 17:
        return "pg_stat_checkpointer_buffers_written_total"
    return "pg_stat_bgwriter_buffers_checkpoint_total"


def test_checkpoint_is_counted(pg_cluster: Cluster) -> None:
    primary = pg_cluster.primary
    table = sql.Identifier(f"pgmon_checkpointer_{uuid.uuid4().hex[:8]}")
    primary.execute(
        sql.SQL("CREATE TABLE {} AS SELECT g FROM generate_series(1, 10000) g").format(table)
    )
    try:
        before = monitor(primary)
        primary.execute("CHECKPOINT")  # dirty buffers from the table above get written
        assert grows(primary, requested_metric(pg_cluster.major), before) >= 1
        assert grows(primary, written_metric(pg_cluster.major), before) > 0
    finally:
        primary.execute(sql.SQL("DROP TABLE {}").format(table))


def test_versioned_names(pg_cluster: Cluster) -> None:
    got = monitor(pg_cluster.primary)
    major = int(pg_cluster.major)
    # The background writer's counters are in pg_stat_bgwriter on every version.
    assert value(got, "pg_stat_bgwriter_buffers_alloc_total") > 0
    assert value(got, "pg_stat_bgwriter_stats_reset_total") > 0
    if major >= 17:
        assert got.samples("pg_stat_bgwriter_checkpoints_req_total") == []
        assert value(got, "pg_stat_checkpointer_stats_reset_total") > 0
        assert (got.value("pg_stat_checkpointer_num_done_total") is not None) == (major >= 18)
    else:
        assert got.samples("pg_stat_checkpointer_num_requested_total") == []
        assert value(got, "pg_stat_bgwriter_buffers_backend_total") >= 0


@pytest.mark.pg(">=17")
def test_restartpoint_on_the_standby(pg_cluster: Cluster) -> None:
    primary, replica = pg_cluster.primary, pg_cluster.replica
    primary.execute("CHECKPOINT")  # a checkpoint record for the standby to restart from
    wait_for_replay(primary, replica)
    before = monitor(replica)
    replica.execute("CHECKPOINT")
    assert grows(replica, "pg_stat_checkpointer_restartpoints_req_total", before) >= 1
    assert value(monitor(replica), "pg_stat_checkpointer_restartpoints_done_total") >= 1
