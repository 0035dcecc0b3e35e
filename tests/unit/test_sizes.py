"""When sizes and rankings are made again: the run's clock and the WAL position."""

from __future__ import annotations

import pytest

from monitor.collectors.base import UNCHANGED_MAX_AGE_SECONDS, Clock
from monitor.collectors.sizes import due


@pytest.mark.parametrize(
    ("interval", "gap", "reached"),
    [
        (0.0, 299.9, False),
        (0.0, 300.0, True),
        # a run up to half an interval early counts: jitter would skip a whole interval
        (300.0, 299.2, True),
        (300.0, 150.0, True),
        (300.0, 149.9, False),
        (15.0, 292.5, True),
        (15.0, 292.4, False),
    ],
)
def test_clock_counts_runs_up_to_half_an_interval_early(
    interval: float, gap: float, reached: bool
) -> None:
    clock = Clock(now=1000.0 + gap, slack=interval / 2)
    assert clock.reached(1000.0, 300.0) is reached


def never_asked() -> str:
    raise AssertionError("the WAL position was read though the answer did not depend on it")


def test_not_due_before_its_age_whatever_the_wal() -> None:
    assert not due(0.0, "0/10", 300.0, Clock(299.0), never_asked)


def test_due_after_its_age_only_when_wal_moved() -> None:
    assert not due(0.0, "0/10", 300.0, Clock(300.0), lambda: "0/10")
    assert due(0.0, "0/10", 300.0, Clock(300.0), lambda: "0/18")


def test_due_on_a_standby_once_old_enough() -> None:
    assert due(0.0, None, 300.0, Clock(300.0), lambda: None)


def test_due_after_the_unchanged_bound_without_reading_the_wal() -> None:
    assert due(0.0, "0/10", 300.0, Clock(UNCHANGED_MAX_AGE_SECONDS), never_asked)


def test_never_made_is_due() -> None:
    assert due(float("-inf"), None, 300.0, Clock(0.0), never_asked)
