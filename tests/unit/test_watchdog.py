"""The watchdog calls what is due, and nothing that was forgotten."""

from __future__ import annotations

import threading
import time

from monitor.watchdog import Watchdog


def test_due_actions_run_in_order_and_forgotten_ones_never() -> None:
    watchdog = Watchdog()
    ran: list[str] = []
    done = threading.Event()
    now = time.monotonic()
    watchdog.watch(now + 0.2, lambda: (ran.append("second"), done.set()))
    forgotten = watchdog.watch(now + 0.1, lambda: ran.append("forgotten"))
    watchdog.watch(now + 0.05, lambda: ran.append("first"))
    watchdog.forget(forgotten)
    assert done.wait(10)
    assert ran == ["first", "second"]


def test_a_failing_action_does_not_stop_the_others() -> None:
    watchdog = Watchdog()
    done = threading.Event()

    def fail() -> None:
        raise RuntimeError("boom")

    watchdog.watch(time.monotonic(), fail)
    watchdog.watch(time.monotonic() + 0.05, done.set)
    assert done.wait(10)
