"""Slots: the collectors of a target that share an interval are scheduled as one job."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from monitor.slots import slots_of


class FakeJob:
    def __init__(self, target: str, name: str, interval: float, ran: list[str]) -> None:
        self.target = SimpleNamespace(name=target)
        self.plan = SimpleNamespace(interval=interval)
        self.name = f"{target}/{name}"
        self.succeeded = False
        self._ran = ran

    def run(self) -> None:
        self._ran.append(self.name)
        self.succeeded = True


def test_jobs_group_by_target_and_interval_in_their_order() -> None:
    ran: list[str] = []
    jobs: list[Any] = [
        FakeJob("a", "locks", 15, ran),
        FakeJob("a", "tables", 300, ran),
        FakeJob("b", "locks", 15, ran),
        FakeJob("a", "wal", 15, ran),
        FakeJob("a", "indexes", 300, ran),
    ]
    slots = slots_of(jobs)
    assert [(s.name, s.interval, [j.name for j in s.jobs]) for s in slots] == [
        ("a/every 15s", 15, ["a/locks", "a/wal"]),
        ("a/every 300s", 300, ["a/tables", "a/indexes"]),
        ("b/every 15s", 15, ["b/locks"]),
    ]
    assert all(slot.has_failed for slot in slots)  # not run yet
    slots[0].run()
    assert ran == ["a/locks", "a/wal"]
    assert not slots[0].has_failed and slots[1].has_failed
    jobs[3].succeeded = False
    assert slots[0].has_failed


def test_a_fractional_interval_names_its_slot_apart() -> None:
    jobs: list[Any] = [FakeJob("t", "x", 0.5, []), FakeJob("t", "y", 1.5, [])]
    assert [s.name for s in slots_of(jobs)] == ["t/every 0.5s", "t/every 1.5s"]
