"""connections: rows in, samples out."""

from __future__ import annotations

from collections import namedtuple

from monitor.collectors import connections
from monitor.metrics import Sample, build_families

Activity = namedtuple(
    "Activity",
    "datname state sessions max_tx_seconds max_query_seconds max_state_seconds",
)
Limits = namedtuple("Limits", "max_connections superuser_reserved reserved used")
Wait = namedtuple("Wait", "datname wait_event_type sessions")


def test_activity_rows_become_four_gauges_per_group() -> None:
    rows = [Activity("app", "idle in transaction", 2, 31.5, 0, 30.0)]
    samples = list(connections.activity_samples(rows))
    key = ("app", "idle in transaction")
    assert Sample("pg_stat_activity_count", key, 2) in samples
    assert Sample("pg_stat_activity_max_tx_duration", key, 31.5) in samples
    assert Sample("pg_stat_activity_max_state_duration_seconds", key, 30.0) in samples
    assert len(samples) == 4


def test_headroom_excludes_reserved_slots() -> None:
    samples = {s.metric: s.value for s in connections.limit_samples([Limits(100, 3, 7, 45)])}
    assert samples["pg_stat_activity_connections_used_ratio"] == 45 / 90
    assert samples["pg_settings_reserved_connections"] == 7


def test_headroom_never_divides_by_zero() -> None:
    samples = {s.metric: s.value for s in connections.limit_samples([Limits(3, 3, 0, 1)])}
    assert samples["pg_stat_activity_connections_used_ratio"] == 1.0


def test_families_carry_target_and_declared_labels() -> None:
    samples = list(connections.wait_event_samples([Wait("app", "Lock", 3)]))
    (family,) = build_families(connections.SPEC.by_name, "db1", samples)
    assert family.type == "gauge"
    assert family.samples[0].labels == {
        "target": "db1",
        "datname": "app",
        "wait_event_type": "Lock",
    }
    assert family.samples[0].value == 3
