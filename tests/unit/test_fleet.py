"""Sharding and spreading: which daemon keeps a target, when within its interval a job runs."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from monitor import fleet
from monitor.settings import ConfigError, load_settings
from monitor.targets import build_targets, shard

NAMES = [f"db-{i:03d}.example:5432/postgres" for i in range(100)]


def test_three_shards_partition_a_hundred_targets() -> None:
    kept = [{n for n in NAMES if fleet.in_shard(n, 3, index)} for index in range(3)]
    assert set().union(*kept) == set(NAMES)
    assert sum(len(k) for k in kept) == len(NAMES)  # disjoint: each name kept exactly once
    assert all(20 <= len(k) <= 47 for k in kept), [len(k) for k in kept]


def test_shard_is_stable_across_processes() -> None:
    """Python's hash() is salted per process; the shard must not be."""
    code = "from monitor import fleet; print(fleet.shard_of('alpha', 7), fleet.stable_hash('x'))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert outputs == {f"{fleet.shard_of('alpha', 7)} {fleet.stable_hash('x')}\n"}


def test_one_shard_keeps_everything() -> None:
    assert all(fleet.in_shard(n, 1, 0) for n in NAMES)


def test_shard_settings_select_targets() -> None:
    targets = [{"name": n, "dsn": "host=h dbname=d"} for n in NAMES[:10]]
    kept = [
        {t.name for t in shard(s, build_targets(s))}
        for s in (
            load_settings(None, targets=targets, shard_count=2, shard_index=i) for i in range(2)
        )
    ]
    assert kept[0] | kept[1] == set(NAMES[:10])
    assert not kept[0] & kept[1]


def test_shard_index_must_be_below_count() -> None:
    with pytest.raises(ConfigError, match="shard_index 2 must be below shard_count 2"):
        load_settings(None, shard_count=2, shard_index=2)
    with pytest.raises(ConfigError, match="shard_count"):
        load_settings(None, shard_count=0)


def test_phase_is_within_the_interval_and_stable() -> None:
    for name in NAMES:
        offset = fleet.phase(f"{name}/locks", 15.0)
        assert 0 <= offset < 15.0
        assert offset == fleet.phase(f"{name}/locks", 15.0)


def test_phases_of_many_targets_spread_over_the_interval() -> None:
    interval = 60.0
    offsets = sorted(fleet.phase(f"{name}/tables", interval) for name in NAMES)
    # Every sixth of the interval gets some of the 100 runs, none gets most of them.
    buckets = [0] * 6
    for offset in offsets:
        buckets[int(offset // (interval / 6))] += 1
    assert all(5 <= count <= 35 for count in buckets), buckets
    assert len(set(offsets)) == len(offsets)


def test_collectors_of_one_target_get_different_phases() -> None:
    offsets = {fleet.phase(f"t/{c}", 15.0) for c in ("locks", "tables", "wal", "database")}
    assert len(offsets) == 4


def test_next_phase_time_lands_on_the_phase_strictly_later() -> None:
    rng = random.Random(1)
    for _ in range(200):
        interval = rng.choice([1.0, 15.0, 3600.0])
        offset = rng.uniform(0, interval)
        after = rng.uniform(1.7e9, 1.8e9)
        when = fleet.next_phase_time(after, interval, offset)
        assert after < when <= after + interval
        assert abs(((when - offset) / interval) - round((when - offset) / interval)) < 1e-6
    assert fleet.next_phase_time(30.0, 15.0, 0.0) == 45.0  # never the same instant again


def test_trigger_keeps_the_phase_after_an_early_first_run() -> None:
    trigger = fleet.PhasedTrigger(15.0, 4.0)
    first_run = datetime.fromtimestamp(1_000_000.3, UTC)  # soon after start-up, off-phase
    later = trigger.get_next_fire_time(first_run, first_run)
    assert later.timestamp() == pytest.approx(1_000_009.0)  # 1_000_005 + 4
    again = trigger.get_next_fire_time(later, later)
    assert again.timestamp() == pytest.approx(1_000_024.0)
