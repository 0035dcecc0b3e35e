"""A switchover under `pgmon run`: the standby is promoted and the old primary follows it.
pgmon watches both all along; the roles, the replication metrics and the findings follow
the servers without a restart of the daemon."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.daemon import Daemon, Series, value, wait_for
from tests.faults import all_up, every_collector, pgmon_sessions, switch_over
from tests.pgserver import MONITOR_ROLE, Cluster, wait_for_replay

# Nothing here differs between majors: one is enough.
pytestmark = pytest.mark.pg(">=18")


@pytest.fixture
def pair(pg_cluster: Cluster) -> Iterator[Cluster]:
    """A primary and a standby of their own: their roles are swapped."""
    cluster = Cluster(pg_cluster.installation)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def unused_index_findings(daemon: Daemon) -> list[dict[str, Any]]:
    import json

    findings: list[dict[str, Any]] = json.loads(daemon.get("/findings")[2])
    return [f for f in findings if f["check"] == "unused_index"]


def roles(series: Series) -> dict[str, float | None]:
    return {t: value(series, "pg_replication_is_replica", target=t) for t in ("a", "b")}


def streaming_to(series: Series, target: str) -> float | None:
    return value(
        series,
        "pg_stat_replication_state",
        target=target,
        application_name="pgmon-primary" if target == "b" else "pgmon-replica",
        state="streaming",
    )


def test_standby_promoted_and_old_primary_following(pair: Cluster) -> None:
    primary, standby = pair.primary, pair.replica
    primary.execute(
        "CREATE TABLE swapped (v int); INSERT INTO swapped SELECT generate_series(1, 100);"
        "CREATE INDEX swapped_v ON swapped (v)"
    )
    wait_for_replay(primary, standby)
    config = {
        "targets": [
            {"name": "a", "dsn": primary.dsn(user=MONITOR_ROLE)},
            {"name": "b", "dsn": standby.dsn(user=MONITOR_ROLE)},
        ],
        "collectors": every_collector(),
        "findings": {"interval": "1s", "thresholds": {"unused_index": {"min_size_bytes": 0}}},
        "reconnect_backoff_max": "1s",
    }
    with Daemon(config) as daemon:
        daemon.wait_ready()
        wait_for(lambda: roles(daemon.scrape()) == {"a": 0, "b": 1}, 10, "a primary, b standby")
        wait_for(lambda: streaming_to(daemon.scrape(), "a") == 1, 10, "a streaming to b")
        [before] = wait_for(
            lambda: [f for f in unused_index_findings(daemon) if f["evidence"]["replicas"] == "b"],
            10,
            "the unused index, checked on the standby too",
        )
        assert before["target"] == "a"

        switch_over(primary, standby)

        wait_for(lambda: roles(daemon.scrape()) == {"a": 1, "b": 0}, 20, "the roles to swap")
        series = wait_for(
            lambda: (s := daemon.scrape()) and streaming_to(s, "b") == 1 and s,
            20,
            "b streaming to a",
        )
        wait_for(
            lambda: (
                not [
                    name
                    for (name, labels) in daemon.scrape()
                    if name.startswith("pg_stat_replication_") and dict(labels)["target"] == "a"
                ]
            ),
            20,
            "a's standby series to go",
        )
        series = daemon.scrape()
        assert value(series, "pg_stat_wal_receiver_connected", target="a") == 1
        assert value(series, "pg_stat_wal_receiver_connected", target="b") is None
        assert value(series, "pg_replication_lag_seconds", target="b") == 0
        [after] = wait_for(
            lambda: [
                f
                for f in unused_index_findings(daemon)
                if (f["target"], f["evidence"]["replicas"]) == ("b", "a")
            ],
            10,
            "the unused index judged on the new primary and its standby",
        )
        assert after["object"] == before["object"] == "public.swapped_v"
        assert [f["target"] for f in unused_index_findings(daemon)] == ["b"]

        for target in ("a", "b"):
            assert value(series, "pg_up", target=target) == 1
            wait_for(lambda t=target: all_up(daemon.scrape(), t), 20, f"{target}'s collectors")
        for server in (primary, standby):
            assert pgmon_sessions(server) == {"postgres": 1}
        assert value(daemon.scrape(), "pgmon_connections_open") == 2
    assert daemon.proc.returncode == 0
