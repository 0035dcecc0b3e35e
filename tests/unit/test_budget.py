"""The global connection budget, with stand-in endpoints (no database)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from monitor.db import BudgetExhausted, ConnectionBudget


class FakeEndpoint:
    def __init__(self, budget: ConnectionBudget, busy: bool = False) -> None:
        self.budget = budget
        self.busy = busy
        self.open = False
        self.last_used = 0.0

    def connect(self, timeout: float = 0.5) -> None:
        self.budget.acquire(self, timeout)  # type: ignore[arg-type]
        self.open = True
        self.last_used = time.monotonic()

    def close_if_idle(self) -> bool:
        if self.busy or not self.open:
            return False
        self.open = False
        self.budget.release(self)  # type: ignore[arg-type]
        return True


def test_at_the_limit_the_least_recently_used_idle_session_is_closed() -> None:
    budget = ConnectionBudget(2)
    first, second, third = (FakeEndpoint(budget) for _ in range(3))
    first.connect()
    second.connect()
    first.last_used = time.monotonic() + 1  # used again after `second`
    third.connect()
    assert (first.open, second.open, third.open) == (True, False, True)
    assert budget.open == 2


def test_with_every_session_busy_a_run_fails_after_its_timeout() -> None:
    budget = ConnectionBudget(1)
    FakeEndpoint(budget, busy=True).connect()
    started = time.monotonic()
    with pytest.raises(BudgetExhausted, match="busy"):
        FakeEndpoint(budget).connect(timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 2
    assert budget.open == 1


def test_zero_means_no_limit_but_still_counts() -> None:
    budget = ConnectionBudget(0)
    changes: list[Any] = []
    budget.on_change.append(lambda: changes.append(budget.open))
    endpoints = [FakeEndpoint(budget) for _ in range(10)]
    for endpoint in endpoints:
        endpoint.connect()
    assert budget.open == 10
    assert changes[-1] == 10


def test_the_failure_reads_the_same_whatever_the_timeout() -> None:
    """Repeated failures are logged once, when their message does not change."""
    budget = ConnectionBudget(1)
    FakeEndpoint(budget, busy=True).connect()
    messages = set()
    for timeout in (0.05, 0.11):
        with pytest.raises(BudgetExhausted) as raised:
            FakeEndpoint(budget).connect(timeout=timeout)
        messages.add(str(raised.value))
    assert len(messages) == 1
