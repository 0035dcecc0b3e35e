"""connections: real sessions in real states, read by a pg_monitor-only role."""

from __future__ import annotations

import threading
import time

from monitor.collectors import connections
from tests.collecting import collect
from tests.daemon import wait_for
from tests.pgserver import MONITOR_ROLE, Cluster


def test_idle_in_transaction_session(pg_cluster: Cluster) -> None:
    with pg_cluster.primary.connect() as idle:
        idle.autocommit = False
        idle.execute("SELECT 1")
        time.sleep(1.2)
        result = collect(connections.SPEC, pg_cluster.primary.dsn(user=MONITOR_ROLE))
        idle.rollback()
    state = "idle in transaction"
    assert (result.value("pg_stat_activity_count", datname="postgres", state=state) or 0) >= 1
    age = result.value(
        "pg_stat_activity_max_state_duration_seconds", datname="postgres", state=state
    )
    assert age is not None and age >= 1.0
    tx_age = result.value("pg_stat_activity_max_tx_duration", datname="postgres", state=state)
    assert tx_age is not None and tx_age >= 1.0


def test_long_running_query_and_its_wait_event(pg_cluster: Cluster) -> None:
    done = threading.Event()

    def sleeper() -> None:
        with pg_cluster.primary.connect() as conn:
            conn.execute("SELECT pg_sleep(3)")
        done.set()

    thread = threading.Thread(target=sleeper)
    thread.start()
    try:
        wait_for(
            lambda: pg_cluster.primary.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(3)' "
                "AND state = 'active'"
            ),
            10,
            "the sleeping query",
        )
        time.sleep(1.1)
        result = collect(connections.SPEC, pg_cluster.primary.dsn(user=MONITOR_ROLE))
    finally:
        thread.join(15)
    assert done.is_set()
    assert (result.value("pg_stat_activity_count", datname="postgres", state="active") or 0) >= 1
    longest = result.value(
        "pg_stat_activity_max_query_duration_seconds", datname="postgres", state="active"
    )
    assert longest is not None and longest >= 1.0
    assert (
        result.value(
            "pg_stat_activity_wait_event_sessions", datname="postgres", wait_event_type="Timeout"
        )
        or 0
    ) >= 1


def test_limits_and_headroom(pg_cluster: Cluster) -> None:
    result = collect(connections.SPEC, pg_cluster.primary.dsn(user=MONITOR_ROLE))
    assert result.value("pg_settings_max_connections") == 50
    assert result.value("pg_settings_superuser_reserved_connections") == 3
    expected_reserved = (
        0
        if int(pg_cluster.major) < 16
        else int(pg_cluster.primary.scalar("SELECT current_setting('reserved_connections')::int"))
    )
    assert result.value("pg_settings_reserved_connections") == expected_reserved
    ratio = result.value("pg_stat_activity_connections_used_ratio")
    assert ratio is not None and 0 < ratio < 1


def test_every_database_and_state_is_present(pg_cluster: Cluster) -> None:
    pg_cluster.primary.execute("CREATE DATABASE pgmon_conn_test")
    try:
        result = collect(connections.SPEC, pg_cluster.primary.dsn(user=MONITOR_ROLE))
    finally:
        pg_cluster.primary.execute("DROP DATABASE pgmon_conn_test")
    states = {
        labels["state"]
        for labels, _ in result.samples("pg_stat_activity_count")
        if labels["datname"] == "pgmon_conn_test"
    }
    assert states == {
        "active",
        "idle",
        "idle in transaction",
        "idle in transaction (aborted)",
        "fastpath function call",
        "disabled",
    }
    assert result.value("pg_stat_activity_count", datname="pgmon_conn_test", state="idle") == 0
    datnames = {labels["datname"] for labels, _ in result.samples("pg_stat_activity_count")}
    assert "template0" not in datnames and "template1" not in datnames
