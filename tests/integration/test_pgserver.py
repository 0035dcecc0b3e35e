"""Self-test of the PostgreSQL fixtures in tests/pgserver.py and tests/conftest.py."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.pgserver import (
    MONITOR_ROLE,
    PASSWORD_ROLE,
    PASSWORD_ROLE_PASSWORD,
    Cluster,
    major_matches,
    pause_replay,
    resume_replay,
    wait_for_receive,
    wait_for_replay,
)


def test_primary_runs_requested_major(pg_cluster: Cluster) -> None:
    version_num = int(pg_cluster.primary.scalar("SELECT current_setting('server_version_num')"))
    assert str(version_num // 10000) == pg_cluster.major
    assert pg_cluster.primary.scalar("SELECT pg_is_in_recovery()") is False


def test_pg_stat_statements_is_queryable(pg_cluster: Cluster) -> None:
    primary = pg_cluster.primary
    # Needs its own query shape: constants and column aliases are not part of
    # the query id, so "SELECT 42 AS x" would be counted under "SELECT $1".
    primary.execute("SELECT length(current_database()) - 1")
    calls = primary.scalar(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE %s",
        ["%length(current_database())%"],
    )
    assert calls >= 1


def test_monitoring_roles(pg_cluster: Cluster) -> None:
    primary = pg_cluster.primary
    with primary.connect(user=MONITOR_ROLE) as conn:
        assert conn.execute("SELECT pg_has_role('pg_monitor', 'member')").fetchone() == (True,)
    with primary.connect(user=PASSWORD_ROLE, password=PASSWORD_ROLE_PASSWORD) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (PASSWORD_ROLE,)
    # pg_hba demands scram-sha-256 for this role, so a wrong password must fail.
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        primary.connect(user=PASSWORD_ROLE, password="wrong").close()


def test_replica_is_streaming(pg_cluster: Cluster) -> None:
    replica = pg_cluster.replica
    assert replica.port != pg_cluster.primary.port
    assert replica.scalar("SELECT pg_is_in_recovery()") is True
    assert replica.scalar("SELECT status FROM pg_stat_wal_receiver") == "streaming"
    # The replica's cluster_name is its walreceiver's application_name.
    state = pg_cluster.primary.scalar(
        "SELECT state FROM pg_stat_replication WHERE application_name = 'pgmon-replica'"
    )
    assert state == "streaming"


def test_paused_replay_lags_then_catches_up(pg_cluster: Cluster) -> None:
    primary, replica = pg_cluster.primary, pg_cluster.replica
    wait_for_replay(primary, replica)
    pause_replay(replica)
    try:
        primary.execute("CREATE TABLE IF NOT EXISTS pgserver_lag (n int)")
        primary.execute("INSERT INTO pgserver_lag SELECT generate_series(1, 1000)")
        # Once the WAL has arrived, only the paused replay explains the gap.
        target = wait_for_receive(primary, replica)
        assert replica.scalar("SELECT pg_last_wal_replay_lsn() < %s::pg_lsn", [target]) is True
        # 'pause requested' turns into 'paused' when replay reaches the new WAL.
        deadline = time.monotonic() + 10
        while replica.scalar("SELECT pg_get_wal_replay_pause_state()") != "paused":
            assert time.monotonic() < deadline, "replay never reported 'paused'"
            time.sleep(0.05)
    finally:
        resume_replay(replica)
    wait_for_replay(primary, replica)
    assert replica.scalar("SELECT count(*) FROM pgserver_lag") >= 1000
    primary.execute("DROP TABLE pgserver_lag")


@pytest.mark.pg(">=17")
def test_pg_marker_selects_majors(pg_cluster: Cluster) -> None:
    assert int(pg_cluster.major) >= 17


def test_major_matches() -> None:
    assert major_matches(">=17", "17")
    assert not major_matches(">=17", 15)
    assert major_matches(">=15,<18", "17")
    assert not major_matches("!=15", "15")
    assert major_matches("15", 15)
    with pytest.raises(ValueError):
        major_matches("~=15", 15)
