"""Replication checks: kept replication rows in, findings out."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from monitor.findings.checks import replication
from monitor.findings.model import Cluster, Finding, Node, Severity

GIB = 1024**3
Slot = namedtuple(
    "Slot",
    "slot_name slot_type plugin database active wal_status safe_wal_size retained_bytes "
    "confirmed_flush_lag_bytes",
)
Server = namedtuple(
    "Server",
    "in_recovery lag_seconds last_replay_seconds replay_lag_bytes wal_keep_size_bytes "
    "max_slot_wal_keep_size_bytes",
)
Standby = namedtuple(
    "Standby",
    "application_name client_addr state sync_state slot_name replay_lag_bytes replay_lag_seconds",
)


def node(target: str, rows: dict[str, Sequence[Any]], standby: bool = False) -> Node:
    return Node(target, 170000, "42", standby, rows)


def run(check: str, *nodes: Node, **over: float) -> list[Finding]:
    spec = next(c for c in replication.CHECKS if c.id == check)
    return list(spec.evaluate(Cluster(nodes), {**spec.defaults(), **over}))


def slot(name: str, active: bool, retained: int | None, status: str = "reserved") -> Slot:
    return Slot(name, "physical", None, None, active, status, None, retained, None)


def test_inactive_slots_by_retained_wal() -> None:
    rows = {
        "replication_slots": [
            slot("standby1", True, 50 * GIB),  # in use: never reported
            slot("small", False, 16 * 1024**2),
            slot("big", False, 2 * GIB),
            slot("huge", False, 11 * GIB),
            slot("lost", False, None, "lost"),
            slot("unreserved", False, 1, "unreserved"),
            slot("never_reserved", False, None, None),  # holds no WAL
        ]
    }
    found = {f.object: f.severity for f in run("inactive_replication_slot", node("p", rows))}
    assert found == {
        "small": Severity.INFO,
        "big": Severity.WARNING,
        "huge": Severity.CRITICAL,
        "lost": Severity.CRITICAL,
        "unreserved": Severity.CRITICAL,
    }


def test_slot_remediation_and_rollback_by_type() -> None:
    logical = Slot("sub'1", "logical", "pgoutput", "shop", False, "extended", None, GIB + 1, 0)
    [found] = run("inactive_replication_slot", node("p", {"replication_slots": [logical]}))
    assert found.datname == "shop" and found.severity is Severity.WARNING
    assert found.remediation.endswith("SELECT pg_drop_replication_slot('sub''1');")
    assert found.rollback.endswith(
        "SELECT pg_create_logical_replication_slot('sub''1', 'pgoutput');"
    )
    assert "re-seeded" in found.rollback
    [physical] = run(
        "inactive_replication_slot", node("p", {"replication_slots": [slot("s", False, 1)]})
    )
    assert physical.rollback.endswith("SELECT pg_create_physical_replication_slot('s', true);")


def test_lag_on_the_standby_and_per_standby_on_the_primary() -> None:
    primary = node(
        "p",
        {
            "replication": [Server(False, 0, None, None, 0, -1)],
            "replication_standbys": [
                Standby("s1", "10.0.0.2", "streaming", "async", "s1", 2 * GIB, 5.0),
                Standby("s2", "10.0.0.3", "streaming", "async", None, 0, 700.0),
                Standby("walreceiver", None, "streaming", "async", None, 100, 0.1),
                Standby("pg_basebackup", "10.0.0.9", "backup", "async", None, 50 * GIB, None),
            ],
        },
    )
    standby = node(
        "s1", {"replication": [Server(True, 90.0, 90.0, 1024 * 1024, 0, -1)]}, standby=True
    )
    found = {(f.target, f.object): f for f in run("replication_lag", primary, standby)}
    assert {k: f.severity for k, f in found.items()} == {
        ("p", "s1@10.0.0.2"): Severity.WARNING,
        ("p", "s2@10.0.0.3"): Severity.CRITICAL,
        ("s1", "s1"): Severity.WARNING,
    }
    assert found[("s1", "s1")].evidence["side"] == "standby"
    assert found[("p", "s1@10.0.0.2")].evidence["slot_name"] == "s1"


def test_a_housekeeping_record_in_flight_is_not_lag() -> None:
    # An idle primary's running-xacts record was received but not replayed yet: "now minus
    # the last replayed commit" reads the whole idle time, behind a few bytes of WAL.
    standby = node("s1", {"replication": [Server(True, 900.0, 900.0, 120, 0, -1)]}, standby=True)
    assert not run("replication_lag", standby)


def test_an_idle_primary_is_not_lag() -> None:
    # The standby has replayed everything: lag_seconds 0 although the last replay is old.
    standby = node("s1", {"replication": [Server(True, 0, 86400.0, 0, 0, -1)]}, standby=True)
    primary = node(
        "p",
        {"replication_standbys": [Standby("s1", "10.0.0.2", "streaming", "async", "s1", 0, 0)]},
    )
    assert not run("replication_lag", primary, standby, warning_seconds=0.001, warning_bytes=0)
