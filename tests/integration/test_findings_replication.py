"""Replication findings on the real primary + standby: an inactive slot holding WAL (made
here and dropped after), and lag from paused replay; the fixture's own standby slot and an
idle primary report nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from monitor.findings.model import Severity
from tests.findings import of_check, run_checks
from tests.pgserver import (
    MONITOR_ROLE,
    Cluster,
    pause_replay,
    resume_replay,
    wait_for_receive,
    wait_for_replay,
)

SLOT = "pgmon_findings_idle_slot"
TABLE = "pgmon_findings_lag"


def both(pg_cluster: Cluster) -> dict[str, str]:
    return {
        "primary": pg_cluster.primary.dsn(user=MONITOR_ROLE),
        "replica": pg_cluster.replica.dsn(user=MONITOR_ROLE),
    }


@pytest.fixture
def idle_slot(pg_cluster: Cluster) -> Iterator[str]:
    primary = pg_cluster.primary
    primary.execute("SELECT pg_create_physical_replication_slot(%s, true)", [SLOT])
    try:
        primary.execute(f"CREATE TABLE {TABLE} AS SELECT g FROM generate_series(1, 20000) g")  # type: ignore[arg-type]
        primary.execute(f"DROP TABLE {TABLE}")  # type: ignore[arg-type]
        yield SLOT
    finally:
        primary.execute("SELECT pg_drop_replication_slot(%s)", [SLOT])


def test_inactive_slot_with_retained_wal(pg_cluster: Cluster, idle_slot: str) -> None:
    default = run_checks(both(pg_cluster))
    low = run_checks(both(pg_cluster), {"inactive_replication_slot": {"warning_bytes": 1}})
    [found] = of_check(default.findings, "inactive_replication_slot")
    assert found.severity is Severity.INFO
    assert (found.target, found.object) == ("primary", idle_slot)
    assert found.evidence["slot_type"] == "physical"
    assert found.evidence["retained_bytes"] > 0
    assert found.remediation.endswith(f"SELECT pg_drop_replication_slot('{idle_slot}');")
    assert found.rollback.endswith(
        f"SELECT pg_create_physical_replication_slot('{idle_slot}', true);"
    )
    # The fixture's standby slot is active and never reported.
    assert [f.object for f in of_check(low.findings, "inactive_replication_slot")] == [idle_slot]
    assert of_check(low.findings, "inactive_replication_slot")[0].severity is Severity.WARNING


def test_no_slot_findings_when_every_slot_is_in_use(pg_cluster: Cluster) -> None:
    low = run_checks(both(pg_cluster), {"inactive_replication_slot": {"critical_bytes": 1}})
    assert not of_check(low.findings, "inactive_replication_slot")


def test_paused_replay_is_lag_on_both_sides(pg_cluster: Cluster) -> None:
    primary, replica = pg_cluster.primary, pg_cluster.replica
    pause_replay(replica)
    try:
        primary.execute(f"CREATE TABLE {TABLE} AS SELECT g FROM generate_series(1, 1000) g")  # type: ignore[arg-type]
        wait_for_receive(primary, replica)
        time.sleep(1.0)
        low = run_checks(
            both(pg_cluster),
            {"replication_lag": {"warning_seconds": 0.5, "warning_bytes": 1}},
        )
    finally:
        resume_replay(replica)
        primary.execute(f"DROP TABLE IF EXISTS {TABLE}")  # type: ignore[arg-type]
        wait_for_replay(primary, replica)
    found = {f.evidence["side"]: f for f in of_check(low.findings, "replication_lag")}
    assert set(found) == {"standby", "upstream"}
    standby, upstream = found["standby"], found["upstream"]
    assert standby.target == "replica" and standby.severity is Severity.WARNING
    assert standby.evidence["lag_bytes"] > 0 and standby.evidence["lag_seconds"] > 0.5
    assert upstream.target == "primary" and upstream.evidence["lag_bytes"] > 0
    assert upstream.evidence["slot_name"] == pg_cluster.slot_name


def test_idle_primary_is_not_lag(pg_cluster: Cluster) -> None:
    wait_for_replay(pg_cluster.primary, pg_cluster.replica)
    time.sleep(1.0)  # the last replayed commit ages while nothing is written
    result = run_checks(both(pg_cluster), {"replication_lag": {"warning_seconds": 0.5}})
    assert not of_check(result.findings, "replication_lag")
