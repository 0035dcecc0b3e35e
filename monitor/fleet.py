"""Running many daemons over one target list: which targets a shard keeps, and when each
job runs within its interval. Both come from one stable hash of a name, so every daemon of
a fleet (and every restart) agrees without talking to the others."""

from __future__ import annotations

import hashlib
import math
import random
from datetime import UTC, datetime

from apscheduler.triggers.base import BaseTrigger

_PHASE_STEPS = 1_000_000


def stable_hash(name: str) -> int:
    """The first 8 bytes of the name's SHA-256 as an integer: the same in every process,
    unlike Python's hash(), which is salted per process."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def shard_of(name: str, count: int) -> int:
    """Prometheus' hashmod: the shard (0 .. count-1) that keeps the target `name`."""
    return stable_hash(name) % count


def in_shard(name: str, count: int, index: int) -> bool:
    return shard_of(name, count) == index


def phase(name: str, interval: float) -> float:
    """Seconds into each interval at which the job called `name` runs: uniform over
    [0, interval), so that many jobs with equal intervals do not fire together."""
    return (stable_hash(name) % _PHASE_STEPS) / _PHASE_STEPS * interval


def next_phase_time(after: float, interval: float, offset: float) -> float:
    """The first time strictly after `after` (Unix seconds) that lies `offset` seconds into
    an interval counted from the epoch: every daemon and restart picks the same instants."""
    turns = math.floor((after - offset) / interval) + 1
    return offset + turns * interval


class PhasedTrigger(BaseTrigger):  # type: ignore[misc]
    """Every `interval` seconds at a fixed phase, plus a little jitter.

    APScheduler's IntervalTrigger counts from the previous run, so a first run placed soon
    after start-up would fix every later run to the same instant for all jobs that started
    together. This one always answers the next phase point after `now`."""

    def __init__(self, interval: float, offset: float, jitter: float = 0.0) -> None:
        self.interval = interval
        self.offset = offset
        self.jitter = jitter

    def get_next_fire_time(self, previous: datetime | None, now: datetime) -> datetime:
        after = now.timestamp()
        if previous is not None:
            # Strictly after the previous run: the scheduler asks until it gets a future time.
            after = max(after, previous.timestamp())
        when = next_phase_time(after, self.interval, self.offset)
        if self.jitter:
            when += random.uniform(0, self.jitter)
        return datetime.fromtimestamp(when, UTC)

    def __str__(self) -> str:
        return f"phased[interval={self.interval:g}s, phase={self.offset:.3f}s]"
